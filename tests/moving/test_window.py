"""The rollback window's end: the old node keeps a moved member's read-only copy for
`move_rollback_days`, then deletes it (content no one else refers to leaves the disk), keeps
their address forwarding; `hameau check` sees no damage while the copy is kept."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import select, text

from hameau.accounts import members
from hameau.accounts.models import Member
from hameau.moving import doors, window
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from hameau.notes import service as notes
from tests.helpers import add_member, browser, log_in
from tests.travel.sides import live, write

NEW_HOME = "https://ailleurs.example"


def _moved(node: Node, name: str, days_ago: float) -> None:
    with transaction(node.sessions) as session:
        member = members.find_member(session, name)
        doors.mark_moved(session, member, NEW_HOME, at=utcnow() - timedelta(days=days_ago))


def _household(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    write(node, "Photos/plage.jpg", b"the same picture", member="alex")
    write(node, "Photos/mine-only.txt", b"only alex had this", member="alex")
    write(node, "Copie/plage.jpg", b"the same picture", member="sam")
    with transaction(node.sessions) as session:
        notes.create(session, members.find_member(session, "alex"), "Recette\n")


def test_the_copy_is_kept_through_the_window_and_check_finds_no_damage(node: Node) -> None:
    _household(node)
    _moved(node, "alex", days_ago=29)
    assert window.end_windows(node) == []
    assert live(node, member="alex")["Photos/mine-only.txt"] == b"only alex had this"
    checked = subprocess.run(
        [sys.executable, "-m", "hameau", "check", "--data-dir", str(node.layout.root)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_at_the_windows_end_the_copy_goes_and_the_address_still_forwards(node: Node) -> None:
    _household(node)
    _moved(node, "alex", days_ago=31)
    unique = node.blobs.put(b"only alex had this")  # its digest (already stored)
    shared = node.blobs.put(b"the same picture")
    with node.sessions() as session:
        indexed = session.execute(text("SELECT title || body FROM search_index")).scalars()
        assert any("Recette" in words for words in indexed)
    assert window.end_windows(node) == ["alex"]
    assert window.end_windows(node) == []  # once
    assert live(node, member="alex") == {}
    assert not node.blobs.exists(unique)
    assert node.blobs.exists(shared)  # sam's copy refers to it
    assert live(node, member="sam") == {"Copie/plage.jpg": b"the same picture"}
    with node.sessions() as session:
        alex = members.find_member(session, "alex")
        assert alex.moved_to == NEW_HOME and not window.copy_kept(alex)
        assert notes.mine(session, alex) == []
        # Nothing of their words is left in the search index either.
        left = session.execute(text("SELECT title, body FROM search_index")).all()
        assert not any("Recette" in title + body for title, body in left)
        assert not any("only alex" in title + body for title, body in left)
    answer = log_in(browser(node), "alex")
    assert answer.status_code == 401  # no password opens anything here any more
    dav = browser(node).request("PROPFIND", "/dav/cal/alex/")
    assert dav.status_code == 308 and dav.headers["location"] == f"{NEW_HOME}/dav/cal/alex/"


def test_the_node_deletes_a_due_copy_at_start_and_arms_one_timer(node: Node) -> None:
    _household(node)
    _moved(node, "alex", days_ago=45)
    add_member(node, "lou")
    _moved(node, "lou", days_ago=1)
    with browser(node) as client:
        timer = client.app.state.move_windows  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while timer.timer is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert timer.timer is not None
        assert timer.delay == window.MAX_DELAY  # lou's window ends in 29 days: a day's wait
        with node.sessions() as session:
            alex = session.scalar(select(Member).where(Member.name == "alex"))
            assert alex is not None and not window.copy_kept(alex)
            assert window.copy_kept(members.find_member(session, "lou"))


def test_a_window_ending_within_a_minute_wakes_the_node_a_minute_later(node: Node) -> None:
    add_member(node, "alex")
    _moved(node, "alex", days_ago=30 - 10 / 86_400)  # ten seconds before its end
    with browser(node) as client:
        timer = client.app.state.move_windows  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while timer.timer is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert timer.delay == window.MIN_DELAY
        with node.sessions() as session:
            assert window.copy_kept(members.find_member(session, "alex"))

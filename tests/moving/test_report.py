"""The report of a move (/moves/<id>) says what moved app by app (items, size), the figures of
the whole, its verification and its times, to the member and to this home's admins (each home
has its own row of the move; the page is the same on both sides)."""

from __future__ import annotations

from datetime import timedelta

from hameau.moving.models import Move
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from tests.helpers import add_member, browser, log_in
from tests.moving.test_pages import pair

PARTS = [
    {"name": "files", "items": 12, "bytes": 3 << 20},
    {"name": "notes", "items": 3, "bytes": 2048},
    {"name": "accounts", "items": 4, "bytes": 120},
]


def _move(node: Node, peer_id: int, role: str, state: str = "done") -> str:
    now = utcnow()
    with transaction(node.sessions) as session:
        move = Move(
            move_id=f"m{role}{state}", role=role, member_name="ana", peer_id=peer_id,
            state=state, by="member", bytes_total=(3 << 20) + 2168, bytes_sent=1 << 20,
            bytes_skipped=2 << 20, items_total=19, verified=7, parts=PARTS,
            created_at=now - timedelta(minutes=3), accepted_at=now - timedelta(minutes=2),
            switched_at=now, finished_at=now, rollback_until=now + timedelta(days=30),
        )  # fmt: skip
        session.add(move)
    return f"/moves/m{role}{state}"


def test_the_report_says_what_moved_per_app_its_verification_and_times(node: Node) -> None:
    add_member(node, "ana")
    add_member(node, "camille", admin=True)
    peer = pair(node)
    ana, admin = browser(node), browser(node)
    log_in(ana, "ana")
    log_in(admin, "camille")
    for report in (_move(node, peer.id, "out"), _move(node, peer.id, "in")):
        for who in (ana, admin):
            who.headers["Accept-Language"] = "en"
            page = who.get(report)
            assert page.status_code == 200, page.text
            text = " ".join(page.text.split())
            assert 'id="parts"' in text
            for words, items in (("Files, with their versions", 12), ("Notes", 3)):
                assert words in text and f"{items} items" in text
            assert "<td>3 MB</td>" in text and "<td>2 KB</td>" in text
            assert "Profile, app passwords and devices" in text and "4 items" in text
            assert "Each of the 7 contents sent was hashed on arrival and matched its name" in text
            assert "checked whole before it was imported" in text
            for label in ("Started", "Accepted", "Ended", "Time taken", "Home switched"):
                assert f"<dt>{label}</dt>" in text, label
            assert "<dd>2 minutes</dd>" in text
    checking = _move(node, peer.id, "out", "copying")
    text = " ".join(ana.get(checking).text.split())
    assert "7 contents checked on arrival so far" in text
    assert 'id="parts"' in text

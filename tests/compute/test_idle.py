"""The owner's sense of idle (issue 15): thresholds from the settings, a member's request (a
session or an app password) seen at once by any process of the node, a busy machine not idle,
and a lent job suspended while a member is active, resumed, or vacated."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hameau.accounts import members, tokens
from hameau.compute import idle, idle_words
from hameau.node.datadir import Node, open_node
from hameau.node.db import transaction
from hameau.web.i18n import Formatter
from tests.e2e.served import login_cookie, serve
from tests.helpers import PASSWORD, add_member, browser, log_in, make_node

EASY = {"compute_idle_load": 999.0}  # any machine's load is under it


def eventually(condition: Callable[[], bool], seconds: float = 60.0) -> bool:
    """Whether the condition holds within `seconds` (looked at 5 times a second)."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def words(node: Node) -> str:
    return idle_words.said(idle.state(node), True, Formatter("en"), str)


def test_a_node_no_member_used_is_idle_under_the_settings_threshold(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", compute_idle_minutes=0.05, **EASY)
    try:
        assert idle.is_idle(node) and not idle.member_active(node)
        assert words(node).startswith("Idle: no member has used the home server yet (load")
        assert "under the threshold 999" in words(node)
    finally:
        node.close()


def test_a_busy_machine_is_not_idle(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", compute_idle_minutes=0.05, compute_idle_load=0.05)
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        # The kernel's 1-minute average rises within seconds of a process always runnable.
        assert eventually(lambda: not idle.is_idle(node))
        said = words(node)
        assert said.startswith("Load ") and "over the threshold 0.05: no job starts." in said
    finally:
        burner.kill()
        burner.wait()
        node.close()


def test_our_own_jobs_are_taken_out_of_the_load_averages() -> None:
    own = idle.OwnLoad()
    own.running("job", now=0.0)
    # Runnable for ten minutes: its whole weight in the 1-minute average, 1 - e^-2 in the 5's.
    assert math.isclose(own.share(60.0, now=600.0), 1.0, abs_tol=1e-4)
    assert math.isclose(own.share(300.0, now=600.0), 1 - math.exp(-2))
    own.stopped("job", now=600.0)  # suspended: what is left fades as the kernel's does
    assert math.isclose(own.share(60.0, now=660.0), math.exp(-1) - math.exp(-11))
    own.running("job", now=700.0)
    own.stopped("job", now=760.0)
    both = (math.exp(-160 / 900) - math.exp(-760 / 900)) + (1 - math.exp(-60 / 900))
    assert math.isclose(own.share(900.0, now=760.0), both)
    assert own.share(900.0, now=760.0 + idle.FORGET_AFTER + 1) == 0.0


def test_a_member_session_or_app_password_makes_the_node_busy_then_idle_again(
    tmp_path: Path,
) -> None:
    node = make_node(tmp_path / "node", compute_idle_minutes=0.05, **EASY)
    try:
        add_member(node, "alex")
        client = browser(node)
        log_in(client, "alex")
        assert idle.member_active(node) and not idle.is_idle(node)
        assert words(node) == "A member is active: jobs wait, and a running one is suspended."
        # The window (3 seconds here) passes with no request: idle again.
        assert eventually(lambda: idle.is_idle(node))
        assert words(node).startswith("Idle since ")
        with transaction(node.sessions) as db:
            _, secret = tokens.create_token(db, members.find_member(db, "alex"), "phone")
        answer = browser(node).get("/api/me", headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200
        assert idle.member_active(node) and not idle.is_idle(node)
    finally:
        node.close()


def test_a_served_node_sees_a_member_log_in_from_another_process(tmp_path: Path) -> None:
    root = tmp_path / "node"
    made = make_node(root, **EASY)
    add_member(made, "camille", admin=True)
    made.close()
    env = {"HAMEAU_COMPUTE_IDLE_LOAD": "999"}
    with serve(root, env=env) as served:
        node = open_node(made.settings)
        try:
            assert not idle.member_active(node)
            cookie = login_cookie(served.url, "camille", PASSWORD)
            assert idle.member_active(node) and not idle.is_idle(node)
            import httpx

            page = httpx.get(served.url + "/compute/offer", cookies={"hameau_session": cookie},
                             headers={"Accept-Language": "fr"})  # fmt: skip
            assert page.status_code == 200
            # The admin looking is left out: no one else came, so the node waits for its window.
            assert "Un membre a utilisé" not in page.text and "Au repos" in page.text
        finally:
            node.close()

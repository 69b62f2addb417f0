"""The owner's sense of idle (issue 15): thresholds from the settings, a member's request (a
session or an app password) seen at once by any process of the node, a busy machine not idle,
and a lent job suspended while a member is active, resumed, or vacated."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

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
    # A suspended job still holds its place (the offer's cores) until it ends.
    assert own.count() == 1
    own.ended("job", now=800.0)
    assert own.count() == 0


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


# A lent job of some seconds: spins, then writes what it did to /out/result (fd 4: /out).
SPINS = 1_000_000_000
DONE = f"spun {SPINS} times\n"
WAT = f"""(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "result")
  (data (i32.const 64) "{DONE.strip()}\\n")
  (func (export "_start") (local $i i32)
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const {SPINS}))))
    (drop (call $open (i32.const 4) (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 9)
                      (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {len(DONE)}))
    (drop (call $write (i32.load (i32.const 8)) (i32.const 0) (i32.const 1) (i32.const 12)))))
"""


def _job(tmp_path: Path) -> tuple[Any, Path]:
    wasmtime = pytest.importorskip("wasmtime", reason="not run: the wasmtime package is missing")
    from hameau.compute import sandbox

    (tmp_path / "in").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    limits = sandbox.Limits(fuel=10**12, wall_seconds=3600)
    child = sandbox.Child(wasmtime.wat2wasm(WAT), [], tmp_path / "in", out, limits)
    return child, out


def _cpu_and_state(pid: int) -> tuple[str, int]:
    """The process's state letter and the CPU ticks it has used (utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], int(fields[11]) + int(fields[12])


def test_a_lent_job_is_suspended_while_a_member_is_active_then_completes(tmp_path: Path) -> None:
    from hameau.compute.supervise import supervise

    node = make_node(tmp_path / "node", compute_idle_minutes=0.2, **EASY)
    add_member(node, "alex")
    log_in(browser(node), "alex")  # a member is active as the job starts: its first look stops it
    child, out = _job(tmp_path)
    with ThreadPoolExecutor(1) as pool:
        ran = pool.submit(supervise, node, child, 0.2)
        try:
            assert eventually(lambda: _cpu_and_state(child.pid)[0] == "T", 30)
            state, cpu = _cpu_and_state(child.pid)
            time.sleep(1.0)  # stopped: no CPU used, nothing written meanwhile
            assert _cpu_and_state(child.pid) == (state, cpu) == ("T", cpu)
            assert not (out / "result").exists()
            # No one comes back: quiet again after the window, the job goes on and ends.
            outcome = ran.result(timeout=600)
        finally:
            child.kill()
            node.close()
    assert outcome.status == "ok", outcome.reason
    assert (out / "result").read_text() == DONE
    assert idle.OWN.count() == 0


def test_a_job_suspended_longer_than_the_vacate_time_is_vacated(tmp_path: Path) -> None:
    from hameau.compute.supervise import supervise

    node = make_node(tmp_path / "node", compute_idle_minutes=5, compute_vacate_minutes=0.02,
                     **EASY)  # fmt: skip
    add_member(node, "alex")
    log_in(browser(node), "alex")
    child, out = _job(tmp_path)
    try:
        outcome = supervise(node, child, check_every=0.2)
    finally:
        child.kill()
        node.close()
    assert outcome.status == "vacated"
    assert "a member of this home used the server" in outcome.reason
    assert not Path(f"/proc/{child.pid}").exists() or _cpu_and_state(child.pid)[0] == "Z"
    assert not (out / "result").exists()


def test_the_defaults_are_htcondors_owner_policy() -> None:
    """Issue 15's numbers, HTCondor's desktop policy: a job starts under a load of 0.3 after
    15 minutes with no member, and is vacated after 10 minutes suspended."""
    from hameau.config import OPTIONS

    assert OPTIONS["compute_idle_load"].default == 0.3
    assert OPTIONS["compute_idle_minutes"].default == 15
    assert OPTIONS["compute_vacate_minutes"].default == 10


def test_a_run_nobody_asks_about_any_more_is_stopped_with_its_reason(tmp_path: Path) -> None:
    """The submitting home gone: the supervisor stops the run (status "lost") as soon as
    `lost` gives its sentence, as the provider does once its asker has been silent for
    compute_lost_seconds (provider.asker_lost)."""
    from hameau.compute.supervise import LOST, supervise

    node = make_node(tmp_path / "node", compute_idle_minutes=0.01, **EASY)
    child, out = _job(tmp_path)
    asked = iter([None, "nobody asks any more"])  # the second look, well before its end
    try:
        outcome = supervise(node, child, check_every=0.2, lost=lambda: next(asked, "gone"))
    finally:
        child.kill()
        node.close()
    assert (outcome.status, outcome.reason) == (LOST, "nobody asks any more")
    assert not (out / "result").exists()

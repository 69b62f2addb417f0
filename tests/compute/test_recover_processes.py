"""Two processes of one node on PostgreSQL: one is doing a run for another home when the other
starts. The starting process's recovery (compute/state.py) leaves the run to the process doing
it; once that process is killed, the run is said killed, so its asker matches it elsewhere:
by the next process to start, or by the compute driver's next look in a process that serves on."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hameau.compute import jobs, state
from hameau.compute.models import ComputeProvided
from hameau.config import load_settings
from hameau.node.datadir import Node, open_node
from hameau.node.db import transaction
from tests.helpers import make_node
from tests.pg import name_in_settings

RUN = "r" * 32
# A process of the node that accepted a run and is doing it in the real sandbox (a run of pi
# long enough never to end while the test looks), as the API's POST /runs does.
DOING = """
import sys
from hameau.compute import provider
from hameau.config import load_settings
from hameau.node.datadir import open_node

node = open_node(load_settings(sys.argv[1]))
provider.launch(node, sys.argv[2])
print("running", flush=True)
sys.stdin.read()
"""


def _pi() -> bytes:
    from hameau.compute.workloads import WorkloadUnavailable, build

    try:
        return build("pi").read_bytes()
    except WorkloadUnavailable as missing:
        pytest.skip(f"not run: {missing}")


def _asked(node: Node) -> None:
    digest, _ = jobs.put(jobs.store(node), io.BytesIO(_pi()))
    with transaction(node.sessions) as session:
        session.add(ComputeProvided(
            run=RUN, job="j" * 32, asker="a" * 16, asker_name="A", module=digest,
            args=["7", str(10**12)], inputs=[], seed=0, memory_bytes=64 << 20, fuel=10**15,
            wall_seconds=3600, price=2, escrow_id="", outputs=[],
        ))  # fmt: skip


def _state(node: Node) -> tuple[str, str]:
    with node.sessions() as session:
        row = session.query(ComputeProvided).filter_by(run=RUN).one()
        return row.state, row.status


def _doing(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DOING, str(root), RUN],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _made(root: Path, pg_url: str) -> None:
    made = make_node(root, **name_in_settings(root, pg_url))
    _asked(made)
    made.close()


def test_a_starting_process_leaves_a_run_another_is_doing(pg_url: str, tmp_path: Path) -> None:
    root = tmp_path / "node"
    _made(root, pg_url)
    doing = _doing(root)
    node = open_node(load_settings(root))
    try:
        assert doing.stdout is not None and doing.stdout.readline() == "running\n"
        state.recover(node)  # this process starts beside it
        assert _state(node) == ("running", "")
        os.killpg(doing.pid, signal.SIGKILL)  # the process doing it is gone, with its sandbox
        doing.wait()
        # As the next process to start: PostgreSQL ends the killed process's session (and
        # lets go of what it held) a moment after the kill, so a start right then may still
        # find the run held; one a moment later does not.
        deadline = time.monotonic() + 20
        state.recover(node)
        while _state(node) != ("failed", "killed") and time.monotonic() < deadline:
            time.sleep(0.2)
            state.recover(node)
        assert _state(node) == ("failed", "killed")
    finally:
        if doing.poll() is None:
            os.killpg(doing.pid, signal.SIGKILL)
            doing.wait()
        node.close()


def test_a_serving_process_says_killed_the_runs_of_a_process_killed_beside_it(
    pg_url: str, tmp_path: Path
) -> None:
    """No process starts after the kill: the serving one's compute driver, at its next look,
    says the dead process's run killed; before the kill its looks left the run running."""
    root = tmp_path / "node"
    _made(root, pg_url)
    doing = _doing(root)
    node = open_node(load_settings(root, {"HAMEAU_COMPUTE_CHECK_SECONDS": "0.2"}))
    driver = state.Driver(node)  # the other process's driver, serving on
    try:
        assert doing.stdout is not None and doing.stdout.readline() == "running\n"
        driver.start()
        time.sleep(1.5)  # several looks while the first process does the run
        assert _state(node) == ("running", "")
        os.killpg(doing.pid, signal.SIGKILL)
        doing.wait()
        deadline = time.monotonic() + 60
        while _state(node) == ("running", ""):
            assert time.monotonic() < deadline, "the killed process's run is still running"
            time.sleep(0.1)
        assert _state(node) == ("failed", "killed")
    finally:
        driver.stopping = True
        driver.nudge()
        if driver.thread is not None:
            driver.thread.join(30)
        if doing.poll() is None:
            os.killpg(doing.pid, signal.SIGKILL)
            doing.wait()
        node.close()

"""Work done once across the processes of a node on PostgreSQL and SeaweedFS (node/once.py),
under SIGKILL: the weekly scrub, the end of rollback windows and compute's driver. In each
test a first process starts with the job due and runs it; the test holds, in a transaction of
its own, the row the job writes last (as any other writer of the node may), so that the run
is caught mid-way, its advisory lock held; a second process is started then: the job is not
its while the first holds it; the first is SIGKILLed mid-run, its transaction and its lock
gone with it, and the second process's next turn of its own timer does the job."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hameau.accounts import members
from hameau.config import load_settings
from hameau.moving import doors, window
from hameau.node import once, records
from hameau.node.datadir import Node, open_node
from hameau.node.db import transaction, utcnow
from tests.e2e.served import Served, serve
from tests.helpers import add_member, make_node
from tests.seaweed import ENV, Cluster, seaweedfs, settings_file
from tests.travel.sides import live, write

pytestmark = pytest.mark.e2e

NEW_HOME = "https://ailleurs.example"
# compute's driver looks every second; a job finds no provider in a few milliseconds.
COMPUTE = ("compute_check_seconds = 1", "compute_match_minutes = 0.001")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with seaweedfs(tmp_path_factory.mktemp("weed")) as started:
        yield started
        for port in list(started.volumes):  # a throwaway cluster: no 10 s graceful stop each
            started.kill_volume(port)


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, pg_cluster: Any, store: Cluster
) -> Iterator[Node]:
    """The node's data dir (settings: one PostgreSQL database, one S3 store), opened here
    too, as a test's own view of the shared database."""
    folder = tmp_path_factory.mktemp("once")
    url = pg_cluster.new_database("once")
    settings = {"database_url": url, **store.settings("once")}
    root = folder / "node"
    make_node(root, **settings).close()
    settings_file(root, settings, *COMPUTE)
    opened = open_node(load_settings(root, ENV))
    for name in ("alex", "sam"):
        add_member(opened, name)
    yield opened
    opened.close()
    pg_cluster.drop(url)


@contextmanager
def row_held(node: Node, select_for_update: str, **values: object) -> Iterator[Callable[[], None]]:
    """A transaction of the test's own holding a row (SELECT ... FOR UPDATE), as another
    writer would: a job that writes it waits there. Yields the release."""
    connection = node.engine.connect()
    held = connection.begin()
    assert connection.execute(text(select_for_update), values).first() is not None
    try:
        yield held.rollback
    finally:
        if held.is_active:
            held.rollback()
        connection.close()


def held_elsewhere(node: Node, job: str) -> bool:
    with once.once(node, job) as mine:
        return not mine


def waiting_on_a_row(node: Node) -> bool:
    """Some backend of the node's database waits for a row lock (the job caught mid-run)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock'"
    )
    with node.engine.connect() as connection:
        return bool(connection.execute(text(query)).scalar())


def until(check: Callable[[], bool], what: str, seconds: float = 150, every: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not seen in {seconds} s: {what}"
        time.sleep(every)


def killed_mid_run(
    node: Node,
    job: str,
    release: Callable[[], None],
    doomed: Served,
    meanwhile: Callable[[], None] = lambda: None,
) -> None:
    """The job caught mid-run in `doomed`, which is then SIGKILLed; `meanwhile` looks at what
    the killed run left while the row is still held (once it is let go, the other process's
    next turn may do the job at once); then the row is let go."""
    until(lambda: held_elsewhere(node, job) and waiting_on_a_row(node), f"{job} mid-run")
    doomed.process.send_signal(signal.SIGKILL)
    doomed.process.wait()
    meanwhile()
    release()


def test_rollback_windows_killed_mid_run_end_in_the_other_process(
    node: Node, store: Cluster
) -> None:
    write(node, "Photos/mine-only.txt", b"only alex had this", member="alex")
    digest = hashlib.sha256(b"only alex had this").hexdigest()
    with transaction(node.sessions) as session:
        alex = members.find_member(session, "alex")
        doors.mark_moved(session, alex, NEW_HOME, at=utcnow() - timedelta(days=31))
    member = "SELECT id FROM members WHERE name = :name FOR UPDATE"
    with (
        row_held(node, member, name="alex") as release,
        serve(node.layout.root, env=ENV) as doomed,
    ):  # its check at start: the window ended
        until(lambda: held_elsewhere(node, "moving-windows"), "the first process's run")
        with serve(node.layout.root, env=ENV) as other:  # its check at start: not its job
            killed_mid_run(node, "moving-windows", release, doomed)
            with node.sessions() as session:  # its deletion rolled back with it
                assert window.copy_kept(members.find_member(session, "alex"))

            def copy_gone() -> bool:
                with node.sessions() as session:
                    return not window.copy_kept(members.find_member(session, "alex"))

            until(copy_gone, "the other process's timer ended the window")
            assert other.process.poll() is None
    assert live(node, member="alex") == {}
    with node.sessions() as session:
        names = session.execute(text("SELECT name, moved_to FROM members")).all()
    assert sorted(names) == [("alex", NEW_HOME), ("sam", None)]  # one tombstone, forwarding
    assert not node.blobs.exists(digest)
    for key in (f"once/blobs/{digest}", f"once/aside/{digest}"):  # none left over
        assert httpx.get(store.filer_url(key)).status_code == 404, key


def test_a_scrub_killed_mid_run_is_done_by_the_other_process(node: Node) -> None:
    for number in range(3):
        write(node, f"Notes/{number}.txt", f"note {number}".encode(), member="sam")
    last = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    records.write(node, "scrub", {"last_scrub": last})  # overdue: due a minute after a start
    record = "SELECT name FROM node_records WHERE name = 'scrub' FOR UPDATE"
    with row_held(node, record) as release, serve(node.layout.root, env=ENV) as doomed:
        until(lambda: held_elsewhere(node, "scrub"), "the first process's scrub")
        with serve(node.layout.root, env=ENV) as other:
            killed_mid_run(node, "scrub", release, doomed)
            assert records.read(node, "scrub") == {"last_scrub": last}  # nothing recorded

            def scrubbed() -> bool:
                return (records.read(node, "scrub") or {}).get("last_scrub") != last

            until(scrubbed, "the other process's weekly check")
            assert other.process.poll() is None
    done = records.read(node, "scrub") or {}
    assert done["checked"] >= 3 and done["damaged"] == 0 and done["missing"] == 0, done


def test_compute_driver_killed_mid_run_is_taken_over_by_the_other_process(
    node: Node, tmp_path: Path
) -> None:
    wasmtime = pytest.importorskip("wasmtime", reason="not run: the wasmtime package is missing")
    module = tmp_path / "spin.wasm"
    module.write_bytes(wasmtime.wat2wasm(
        '(module (memory (export "memory") 1) (func (export "_start")))'
    ))  # fmt: skip
    hameau(node, "ledger", "issue", "alex", "5")
    said = hameau(node, "compute", "submit", str(module), "--member", "alex", "--budget", "1",
                  "--redundancy", "1", "--fuel", "1M", "--memory", "16M")  # fmt: skip
    job = said.split("Job ", 1)[1].split()[0]
    row = "SELECT id FROM compute_jobs WHERE id = :id FOR UPDATE"
    with (
        row_held(node, row, id=int(job)) as release,
        serve(node.layout.root, env=ENV) as doomed,
    ):  # no paired home: the job fails
        until(lambda: held_elsewhere(node, "compute-driver"), "the first process's driver")
        with serve(node.layout.root, env=ENV) as other:

            def still_matching() -> None:  # nothing of the killed run recorded
                assert " matching" in hameau(node, "compute", "status", job).splitlines()[0]

            killed_mid_run(node, "compute-driver", release, doomed, still_matching)
            until(lambda: " failed" in hameau(node, "compute", "status", job),
                  "the other process's driver")  # fmt: skip
            assert other.process.poll() is None
    said = hameau(node, "compute", "status", job)
    assert "No paired home took the job in time" in said or "Aucun" in said, said


def hameau(node: Node, *args: str) -> str:
    """A `hameau` command on the node's data dir; its output (it must succeed)."""
    import os

    done = subprocess.run(
        [sys.executable, "-m", "hameau", *args, "--data-dir", str(node.layout.root)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **ENV},
    )  # fmt: skip
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout

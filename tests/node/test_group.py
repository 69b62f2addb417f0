"""Group commit: callers waiting together share a flush, none returns before a flush that
began after it asked, and a failed flush fails every caller it covered."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from hameau.node.group import GroupSync
from tests.helpers import make_node


def test_writes_waiting_together_share_flushes_and_none_returns_early() -> None:
    flushed: list[tuple[float, list[int]]] = []  # when each flush began, and its items

    def flush(items: list[int]) -> None:
        flushed.append((time.monotonic(), items))
        time.sleep(0.05)  # a slow disk: callers pile up meanwhile

    group = GroupSync(flush)
    asked: dict[int, float] = {}
    returned: dict[int, float] = {}
    start = threading.Barrier(8)

    def write(number: int) -> None:
        start.wait()
        asked[number] = time.monotonic()
        group.sync(number)
        returned[number] = time.monotonic()

    threads = [threading.Thread(target=write, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert group.flushes == len(flushed) < 8
    assert sorted(item for _when, items in flushed for item in items) == list(range(8))
    for began, items in flushed:  # each item's flush began after it was given
        assert all(asked[item] <= began for item in items)
        assert all(returned[item] > began for item in items)


def test_a_failed_flush_fails_each_write_it_covered_and_the_next_one_works() -> None:
    calls = []

    def flush(items: list[str]) -> None:
        calls.append(items)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")

    group = GroupSync(flush)
    with pytest.raises(OSError, match="No space left"):
        group.sync("first")
    group.sync("second")
    assert calls == [["first"], ["second"]]


def test_grouped_writes_are_committed_and_seen_by_every_connection(tmp_path: Path) -> None:
    from sqlalchemy import text

    node = make_node(tmp_path / "node")
    before = node.group.log.flushes
    node.group.run(lambda session: session.execute(text("UPDATE node_info SET name = 'Ici'")))
    assert node.group.log.flushes == before + 1
    if node.layout.on_sqlite:  # on PostgreSQL the server flushes its own log
        assert (tmp_path / "node" / "hameau.db-wal").is_file()  # the log that flush fsyncs
    with node.sessions() as session:
        assert session.execute(text("SELECT name FROM node_info")).scalar() == "Ici"
    node.close()

"""`hameau check`, the start sweep and the weekly scrub, against real damage on disk."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, text

from hameau.files import scrub as scrubbing
from hameau.files.models import FileEntry
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.serving import tidy
from tests.files.test_integrity import flip
from tests.files.test_store import write
from tests.helpers import add_member, sqlite_only
from tests.node.test_cli import hameau


def damaged_node(node: Node) -> dict[str, str]:
    """Four files: one left sound, one with flipped bytes, one cut short, one deleted."""
    add_member(node, "alex")
    digests = {}
    for name in ("sound", "flipped", "truncated", "deleted"):
        entry = write(node, "alex", f"{name}.bin", os.urandom(30_000))
        digests[name] = entry.blob or ""
    flip(node.blobs.path(digests["flipped"]))
    with node.blobs.path(digests["truncated"]).open("r+b") as handle:
        handle.truncate(1000)
    node.blobs.path(digests["deleted"]).unlink()
    return digests


def test_check_finds_each_kind_of_damage_and_repair_quarantines(node: Node) -> None:
    digests = damaged_node(node)
    root = node.layout.root
    node.close()

    found = hameau("check", data_dir=root)
    assert found.returncode == 1, found.stderr
    out = found.stdout
    assert "flipped.bin (alex's files): its content is damaged" in out
    assert "truncated.bin (alex's files): its content is damaged" in out
    assert "deleted.bin (alex's files): its content is missing" in out
    assert "sound.bin" not in out and "hameau check --repair" in out
    assert all(node.blobs.exists(digests[name]) for name in ("flipped", "truncated"))

    repaired = hameau("check", "--repair", data_dir=root)
    assert repaired.returncode == 1  # the content of three files is still lost
    assert repaired.stdout.count("moved to the quarantine") == 2
    held = sorted(path.name for path in (root / "blobs" / "quarantine").iterdir())
    assert [name.split("-")[1:] for name in held] == sorted(
        [["damaged", digests["flipped"]], ["damaged", digests["truncated"]]]
    )
    assert node.blobs.exists(digests["sound"])

    purged = hameau("check", "--purge-quarantine", data_dir=root)
    assert "quarantine emptied: 2 file(s)" in purged.stdout
    assert list((root / "blobs" / "quarantine").iterdir()) == []


def test_a_sound_node_checks_clean_and_a_wrong_journal_is_found_and_repaired(
    any_node: Node,
) -> None:
    node = any_node  # on SQLite and on PostgreSQL
    add_member(node, "alex")
    write(node, "alex", "a.txt", b"a")
    write(node, "alex", "b.txt", b"b")
    write(node, "alex", "c.txt", b"c")
    root = node.layout.root
    clean = hameau("check", data_dir=root)
    assert clean.returncode == 0, clean.stdout
    assert "Everything checked is sound." in clean.stdout
    with transaction(node.sessions) as session:
        session.execute(text("DELETE FROM sync_entries WHERE path = 'a.txt'"))
    node.close()  # (sequence numbers cannot repeat any more: migration 0009 made them unique)
    found = hameau("check", data_dir=root)
    assert found.returncode == 1
    assert "files journal" in found.stdout
    assert hameau("check", "--repair", data_dir=root).returncode == 1
    assert hameau("check", data_dir=root).returncode == 0


@sqlite_only(
    "a damaged SQLite file; a PostgreSQL server checks its own pages (data checksums, amcheck)"
)
def test_a_damaged_database_is_reported_and_not_opened(node: Node) -> None:
    add_member(node, "alex")
    database = node.layout.database
    node.close()
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
    with database.open("r+b") as handle:  # garbage over every page but the header's
        for page in range(1, pages):
            handle.seek(page * size)
            handle.write(os.urandom(size))
    result = hameau("check", data_dir=node.layout.root)
    assert result.returncode == 1
    assert "Damage: the database" in result.stdout and "backup" in result.stdout


def test_the_start_sweep_quarantines_content_whose_rows_were_lost(node: Node) -> None:
    add_member(node, "alex")
    kept = [write(node, "alex", f"f{n}.bin", os.urandom(2000)).blob or "" for n in range(3)]
    lost = [write(node, "alex", f"g{n}.bin", os.urandom(2000)).blob or "" for n in range(8)]
    with transaction(node.sessions) as session:  # as a truncated WAL would: rows gone
        session.execute(delete(FileEntry).where(FileEntry.name.like("g%")))
    tidy(node)
    assert all(node.blobs.exists(digest) for digest in kept)
    assert not any(node.blobs.exists(digest) for digest in lost)
    held = {name.rsplit("-", 1)[1] for name, _when in node.blobs.quarantined()}
    assert held == set(lost)  # moved aside, every byte still there
    assert node.blobs.quarantine_size() == 8 * 2000


def test_the_scrub_quarantines_damage_and_forgets_old_quarantine(node: Node) -> None:
    digests = damaged_node(node)
    old = node.blobs.quarantine_dir / "20200101T000000Z-unreferenced-old"
    node.blobs.quarantine_dir.mkdir(exist_ok=True)
    old.write_bytes(b"x" * 10)
    report = scrubbing.scrub(node, pause=0)
    assert (report.damaged, report.missing) == (2, 1)
    assert node.blobs.exists(digests["sound"])
    assert not node.blobs.exists(digests["flipped"]) and not old.exists()
    assert len(node.blobs.quarantined()) == 2


T = TypeVar("T")


def in_own_loop(work: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps a loop running
    in the main thread for the whole session."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def test_the_scrub_is_one_timer_a_week_away_never_a_busy_wake_up(node: Node) -> None:
    week = timedelta(days=7).total_seconds()

    async def armed(scrubber: scrubbing.Scrubber) -> float:
        scrubber.start()
        assert scrubber.timer is not None and not scrubber.timer.cancelled()
        await scrubber.stop()
        return scrubber.delay

    first = in_own_loop(armed(scrubbing.Scrubber(node)))  # a node never scrubbed
    assert week - 60 < first <= week and scrubbing.read_record(node)["counting_from"]

    # A record left in the data dir by an older version is carried into the database.
    scrubbing.record_path(node).write_text(
        f'{{"last_scrub": "{(datetime.now(UTC) - timedelta(days=8)).isoformat()}"}}'
    )
    with node.engine.begin() as connection:
        connection.execute(text("DELETE FROM node_records"))
    assert in_own_loop(armed(scrubbing.Scrubber(node))) == scrubbing.MIN_DELAY  # overdue

    async def run_then_rearm() -> float:
        scrubber = scrubbing.Scrubber(node, pause=0)
        await scrubber.run()  # what the timer starts when it fires
        assert scrubber.timer is not None
        await scrubber.stop()
        return scrubber.delay

    assert in_own_loop(run_then_rearm()) > week - 60
    assert scrubbing.read_record(node)["checked"] == 0
    assert not scrubbing.record_path(node).exists()


@sqlite_only("SQLite's PRAGMA synchronous; a PostgreSQL commit is durable by the server's defaults")
def test_sqlite_is_durable_at_each_commit(node: Node) -> None:
    with node.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL

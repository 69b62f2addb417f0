"""The weekly scrub of a served node: every stored content hashed again, gently.

Disks rot silently; a file read once a year would only then be found damaged. Once a week
the served node hashes every content its files refer to, at most about 40 MB/s with a pause
after each MiB, moves what is damaged to the quarantine (the file then shows as damaged, with
its versions to restore), empties the quarantine of what went there over 30 days ago, and
forgets the thumbnails of content no longer stored.

It never wakes an idle node more than once a minute: one timer is armed for the next due
time (the last scrub's time is kept in the database, `node_records`, so that processes on
several machines serving one node on PostgreSQL scrub once a week between them), never a
polling loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from hameau.node import once, records
from hameau.node.blobs import QUARANTINE_DAYS
from hameau.node.datadir import Node

if TYPE_CHECKING:
    from hameau.files.check import Report

log = logging.getLogger("hameau.files")

PERIOD = timedelta(days=7)
MIN_DELAY = 60.0  # seconds: never a wake-up more often than once a minute
PAUSE = 0.02  # seconds of rest after each MiB hashed


class Stopped(Exception):
    """The node is stopping: the scrub ends where it is (it runs again at the next start)."""


RECORD = "scrub"


def record_path(node: Node) -> Path:
    """Where the record was kept before it moved to the database (carried over once)."""
    return node.layout.root / "scrub.json"


def read_record(node: Node) -> dict[str, Any]:
    """The last scrub's record: in the database; a data dir's `scrub.json` carried over."""
    found = records.read(node, RECORD)
    if found is not None:
        return found
    try:
        found = dict(json.loads(record_path(node).read_text()))
    except (OSError, ValueError):
        return {}
    records.write(node, RECORD, found)
    record_path(node).unlink(missing_ok=True)
    return found


def scrub(node: Node, stop: threading.Event | None = None, pause: float = PAUSE) -> Report:
    """Hash every referenced content; quarantine what is damaged; forget quarantined content
    older than 30 days. Raises `Stopped` if ``stop`` is set meanwhile."""
    # The check (the files' service and tables) loads when a scrub runs, not with the timer.
    from hameau.files import thumbnails
    from hameau.files.check import Report, check_content

    stop = stop or threading.Event()

    def between() -> None:
        if stop.wait(pause):
            raise Stopped

    report = Report()
    check_content(node.sessions, node.blobs, report, repair=True, between=between)
    node.blobs.purge_quarantine(older_than=timedelta(days=QUARANTINE_DAYS))
    thumbnails.prune(node.blobs, thumbnails.cache_folder(node.layout.root))
    return report


class Scrubber:
    """Runs `scrub` in a worker thread when due; `timer` is the one armed wake-up."""

    def __init__(self, node: Node, period: timedelta = PERIOD, pause: float = PAUSE) -> None:
        self.node, self.period, self.pause = node, period, pause
        self.timer: asyncio.TimerHandle | None = None
        self.delay = 0.0  # seconds the timer was armed for
        self.task: asyncio.Task[None] | None = None
        self._stop = threading.Event()

    def _record(self) -> dict[str, Any]:
        return read_record(self.node)

    def _write(self, record: dict[str, str | int | None]) -> None:
        records.write(self.node, RECORD, record)

    def due(self) -> datetime:
        """A week after the last scrub (or after the node was first served with a scrub)."""
        record = self._record()
        base = record.get("last_scrub") or record.get("counting_from")
        if not base:
            base = datetime.now(UTC).isoformat()
            self._write({"last_scrub": None, "counting_from": base})
        return datetime.fromisoformat(str(base)) + self.period

    def start(self) -> None:
        self._arm(asyncio.get_running_loop())

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self.delay = max(MIN_DELAY, (self.due() - datetime.now(UTC)).total_seconds())
        self.timer = loop.call_later(self.delay, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        if self.due() > datetime.now(UTC) + timedelta(seconds=MIN_DELAY):
            self._arm(loop)  # the wall clock moved back: not due yet
            return
        self.task = loop.create_task(self.run())

    async def run(self) -> None:
        # Once across the node's processes (node/once.py); the record is written under the lock.
        await anyio.to_thread.run_sync(once.if_free, self.node, "scrub", self._scrub_if_due)
        if not self._stop.is_set():
            self._arm(asyncio.get_running_loop())

    def _scrub_if_due(self) -> None:
        if self.due() > datetime.now(UTC) + timedelta(seconds=MIN_DELAY):
            return  # another process scrubbed meanwhile
        from hameau.files.purge import put_back_cut_short

        put_back_cut_short(self.node)  # what a killed process's purge left aside: not damage
        started = datetime.now(UTC)
        try:
            report = scrub(self.node, self._stop, self.pause)
        except Stopped:
            return
        except Exception:  # a scrub that fails must not take the node down; try next week
            log.exception("The weekly check of the stored files failed.")
            report = None
        if report is not None:
            self._write(
                {"last_scrub": started.isoformat(), "checked": report.blobs_checked,
                 "damaged": report.damaged, "missing": report.missing}
            )  # fmt: skip
            for line in report.findings:
                log.warning("Weekly check: %s", line)
        else:
            self._write({"last_scrub": started.isoformat(), "failed": 1})

    async def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._stop.set()
        if self.task is not None:
            await self.task


def attach(app: Any, node: Node) -> None:
    """The files' part of the served app (hameau/parts.py): the weekly check, one timer."""
    app.state.scrubber = Scrubber(node)
    app.state.starts.append(app.state.scrubber.start)
    app.state.stops.append(app.state.scrubber.stop)

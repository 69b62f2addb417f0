"""A served satellite syncs by itself: at start, a few seconds after a change here, every
`travel_pull_minutes` for the home's changes, and, while the home cannot be reached, again
after `travel_retry_seconds`, doubling each time. Between those it sleeps on an event: no
polling loop, no wakeup while nothing happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from hameau.errors import BadRequest, HameauError
from hameau.files import journal
from hameau.files.journal import SyncEntry
from hameau.node.datadir import Node
from hameau.node.syncing import Domain, Report
from hameau.notes.models import NoteUpdate

log = logging.getLogger("hameau.travel")
QUIET_SECONDS = 3.0  # wait for a burst of changes to end before syncing


@dataclass
class Outcome:
    when: datetime
    ok: bool
    message: str


class AutoSync:
    def __init__(self, node: Node, domains: Callable[[], list[Domain]]) -> None:
        self.node = node
        self.domains = domains  # the syncing domains, from the assembly
        self.wake = asyncio.Event()
        self.turn = asyncio.Lock()  # one sync at a time: this loop's or the command line's
        self.last: Outcome | None = None
        self.running = False
        self.retry = float(node.settings.travel_retry_seconds)
        self.pull = node.settings.travel_pull_minutes * 60.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None

    # -- noticing local changes (files journal rows committed by any door)

    def watch(self) -> None:
        event.listen(self.node.sessions, "after_flush", self._after_flush)
        event.listen(self.node.sessions, "after_commit", self._after_commit)

    def _after_flush(self, session: Session, _context: object) -> None:
        touched = (*session.new, *session.dirty)
        if any(isinstance(item, SyncEntry | NoteUpdate) for item in touched):
            session.info["hameau.travel.changed"] = True

    def _after_commit(self, session: Session) -> None:
        flushed = session.info.pop("hameau.travel.changed", False)  # notes, ORM-written rows
        changed = session.info.pop(journal.CHANGED, False) or flushed
        # Not the sync's own writes: those are already on both sides.
        if changed and self._loop is not None and threading.current_thread() is not self._worker:
            self._loop.call_soon_threadsafe(self.wake.set)

    # -- the loop

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.watch()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def now(self) -> None:
        """Sync as soon as possible (the page's button)."""
        self.wake.set()

    async def _run(self) -> None:
        delay = 0.0
        failures = 0
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=delay)
                await asyncio.sleep(QUIET_SECONDS)
            except TimeoutError:
                pass
            self.wake.clear()
            async with self.turn:  # after a sync the command line asked for, if one runs
                ok = await asyncio.to_thread(self._sync_once)
            failures = 0 if ok else failures + 1
            delay = self.pull if ok else min(self.pull, self.retry * 2 ** (failures - 1))

    def _sync_once(self) -> bool:
        try:
            return self._sync().complete
        except Exception:  # kept in `last` (a bug logged): the satellite goes on serving
            return False

    async def requested(self) -> Report:
        """A sync asked for by `hameau travel sync` (control.py): after the one running, if
        any, since the member's change may have come after it started."""
        async with self.turn:
            return await asyncio.to_thread(self._sync)

    def _sync(self) -> Report:
        """One sync, in a worker thread; its outcome kept for the page, its error raised."""
        from hameau.travel import satellite as record
        from hameau.travel import sync
        from hameau.travel.home import client_for

        self._worker = threading.current_thread()
        self.running = True
        try:
            found = record.load(self.node.layout.root)
            if found is None:
                raise BadRequest(
                    "The node in %(dir)s is not a satellite; make one with `hameau travel pack`.",
                    dir=str(self.node.layout.root),
                )
            with client_for(found) as client:
                report = sync.sync(self.node, found, client, domains=self.domains())
            message = "; ".join(report.problems)
            self.last = Outcome(datetime.now(UTC), report.complete, message)
            return report
        except HameauError as error:
            self.last = Outcome(datetime.now(UTC), False, str(error))
            raise
        except Exception as error:  # a bug must not stop the satellite serving its member
            log.exception("automatic sync failed")
            self.last = Outcome(datetime.now(UTC), False, f"{type(error).__name__}: {error}")
            raise
        finally:
            self.running = False
            self._worker = None

"""The served node's automatic backups: every `backup_every_hours` (24 by default) to every
target, after the last run's start; an hour after a failed run.

One timer armed for the next due time, never a polling loop; no timer at all while no target is
set up (setting one up from the admin page arms it; from the command line, the next start of
`hameau serve` does). A backup runs in a worker thread; a stopping server ends its restic (the
next run finds it interrupted and carries on)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import select

from hameau.backup import service
from hameau.backup.models import BackupRun
from hameau.errors import Conflict
from hameau.node.datadir import Node

log = logging.getLogger("hameau.backup")

MIN_DELAY = 60.0  # seconds: never a wake-up more often than once a minute
RETRY = timedelta(hours=1)  # after a failed run (a neighbour down, a disk unplugged)


class Scheduler:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.timer: asyncio.TimerHandle | None = None
        self.delay = 0.0  # seconds the timer was armed for
        self.task: asyncio.Task[None] | None = None
        self.process: subprocess.Popen[str] | None = None

    def due(self) -> datetime | None:
        """When the next backup is due; None while no target is set up."""
        with self.node.sessions() as session:
            if not service.specs(session, self.node):
                return None
            query = select(BackupRun).order_by(BackupRun.started_at.desc()).limit(1)
            last = session.scalars(query).first()
        if last is None or last.outcome == "running":
            # Running: in another process (tried again in a minute, refused while it runs) or
            # in one that died (its lock gone with it, so the next turn backs up).
            return datetime.now(UTC)
        period = timedelta(hours=self.node.settings.backup_every_hours)
        if last.outcome in ("failed", "interrupted"):
            period = min(period, RETRY)
        return last.started_at + period

    def late(self) -> BackupRun | bool:
        """For an admin's home page: the warning when backups are too old (else False)."""
        with self.node.sessions() as session:
            return service.too_old(self.node, session)

    def start(self) -> None:
        self._arm(asyncio.get_running_loop())

    def rearm(self) -> None:
        """Targets changed (set up from the admin page): the timer follows."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.task is None or self.task.done():
            self._arm(asyncio.get_running_loop())

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        due = self.due()
        if due is None:
            return
        self.delay = max(MIN_DELAY, (due - datetime.now(UTC)).total_seconds())
        self.timer = loop.call_later(self.delay, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        due = self.due()
        if due is None:
            return
        if due > datetime.now(UTC) + timedelta(seconds=MIN_DELAY):
            self._arm(loop)  # the wall clock moved back, or a backup ran from the command line
            return
        self.task = loop.create_task(self.run())

    def now(self) -> bool:
        """ "Back up now" from the admin page; False when a backup is running already."""
        if self.task is not None and not self.task.done():
            return False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.task = asyncio.get_running_loop().create_task(self.run())
        return True

    def _watch(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    async def run(self) -> None:
        try:
            done = await anyio.to_thread.run_sync(service.back_up_all, self.node, None, self._watch)
            for spec, result in done:
                if not isinstance(result, BackupRun):
                    log.warning("The backup to %s failed: %s", spec, result)
        except Conflict:
            log.info("A backup was running already (from the command line); not another.")
        except Exception:  # a backup that fails must not take the node down; it is recorded
            log.exception("The automatic backup failed.")
        finally:
            self.process = None
        self._arm(asyncio.get_running_loop())

    async def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # restic removes its lock as it stops
        if self.task is not None:
            await self.task
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None


def attach(app: Any, node: Node) -> None:
    """The backup's part of the served app (hameau/parts.py): one timer for the next backup."""
    app.state.backups = Scheduler(node)
    app.state.starts.append(app.state.backups.start)
    app.state.stops.append(app.state.backups.stop)

"""The rollback window's end: the node a member moved away from deletes the copy it kept.

For `move_rollback_days` (30 by default) after the switch (`Member.moved_at`), the old node
keeps the member's things read-only, so a rollback brings them back without a transfer.
Then it deletes them: the files (rows and the content no one else refers to) through the
files' purge, the calendars' folder, the search index's rows, and every other row of the member through the
database's own cascades (notes, messages read marks, AI history, sessions, app passwords);
a row with the same name and `moved_to` stays, disabled and without password, so the
member's addresses still forward and the admin's page still says where they went.

No polling: one timer is armed for the next end of a window (never less than a minute away,
at most a day, so a move switched meanwhile is seen the same day), plus a check at start.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.calendar import storage
from hameau.node import once
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow

log = logging.getLogger("hameau.moving")

MIN_DELAY = 60.0  # seconds: never a wake-up more often than once a minute
MAX_DELAY = 86_400.0  # a day: a move switched since the last look is found by then
NO_PASSWORD = "!"  # noqa: S105 (not an Argon2 hash: no password ever matches it)


def kept_until(member: Member, days: int) -> datetime | None:
    """When the copy of a member who moved away is deleted (None: they did not move)."""
    return member.moved_at + timedelta(days=days) if member.moved_at and member.moved_to else None


def copy_kept(member: Member) -> bool:
    """Whether this node still holds the moved member's things (not yet their tombstone)."""
    return member.password_hash != NO_PASSWORD


def _moved(session: Session) -> list[Member]:
    return list(session.scalars(select(Member).where(Member.moved_to.is_not(None))))


def next_end(session: Session, days: int) -> datetime | None:
    """The nearest end of a rollback window still to come, of a copy still kept."""
    ends = [kept_until(each, days) for each in _moved(session) if copy_kept(each)]
    return min((end for end in ends if end is not None), default=None)


def delete_copy(node: Node, session: Session, member: Member) -> Member:
    """Delete what this node kept of a member who moved away; returns their tombstone."""
    from hameau.files import purge  # the files' and search's writers: not for the timer
    from hameau.search import index

    purge.purge_owner(session, member.id, node.blobs)
    purge.purge_versions(session, member.id, node.blobs)
    index.remove_owner(session, member.id)  # the search index has no foreign key to cascade
    shutil.rmtree(storage.folder(node) / "collections" / "collection-root" / member.name, True)
    tombstone = Member(
        name=member.name, display_name=member.display_name, password_hash=NO_PASSWORD,
        quota_bytes=0, locale=member.locale, moved_to=member.moved_to,
        moved_at=member.moved_at, disabled_at=utcnow(),
    )  # fmt: skip
    session.execute(delete(Member).where(Member.id == member.id))  # the cascades do the rest
    session.flush()
    session.add(tombstone)
    session.flush()
    return tombstone


def turn(node: Node) -> list[str]:
    """The timer's turn, once across the node's processes: what a killed process's purge of
    a copy left aside put back first (files.purge), then the windows that have ended."""
    if not node.layout.on_sqlite:  # one process on SQLite: its start put it back
        from hameau.files.purge import put_back_cut_short

        put_back_cut_short(node)
    return end_windows(node)


def end_windows(node: Node, now: datetime | None = None) -> list[str]:
    """Delete the copies whose window has ended; the names of those deleted."""
    now = now or utcnow()
    days = node.settings.move_rollback_days
    done = []
    with transaction(node.sessions) as session:
        for member in _moved(session):
            end = kept_until(member, days)
            if copy_kept(member) and end is not None and end <= now:
                delete_copy(node, session, member)
                done.append(member.name)
    for name in done:
        log.info("The rollback window of %s ended: their copy here was deleted.", name)
    return done


class WindowTimer:
    """One timer for the next end of a rollback window (see the module's docstring)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.timer: asyncio.TimerHandle | None = None
        self.delay = 0.0  # seconds the timer was armed for
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())  # the check at start

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        with self.node.sessions() as session:
            end = next_end(session, self.node.settings.move_rollback_days)
        wait = MAX_DELAY if end is None else (end - utcnow()).total_seconds()
        self.delay = min(MAX_DELAY, max(MIN_DELAY, wait))
        self.timer = loop.call_later(self.delay, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        self.task = loop.create_task(self.run())

    async def run(self) -> None:
        try:
            await anyio.to_thread.run_sync(
                once.if_free, self.node, "moving-windows", turn, self.node
            )
        except Exception:  # must not take the node down; tried again at the next wake-up
            log.exception("Deleting the copy of a member who moved away failed.")
        self._arm(asyncio.get_running_loop())

    async def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.task is not None and not self.task.done():
            await self.task


def attach(app: Any, node: Node) -> None:
    """The "moving" part's state (hameau/parts.py): the rollback windows' one timer."""
    app.state.move_windows = WindowTimer(node)
    app.state.starts.append(app.state.move_windows.start)
    app.state.stops.append(app.state.move_windows.stop)

"""CPU time the node spends serving an app for a member, counted per day (UTC), for the
footprint's energy per app.

`metered("sync")` wraps a route whose work runs on the event loop without awaiting (a
coroutine that never suspends runs straight through): the thread's CPU time
(`time.thread_time`) before and after is this request's own, nothing of another task's. The
count is one upsert in the request's session, committed with it (a refused request counts
nothing). Work a route hands to a worker thread is counted where it runs, with `counted`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hameau.footprint.models import AppCpu
from hameau.node.db import utcnow

T = TypeVar("T")
# CPU seconds a route's worker threads spent, added to its own at its end.
_in_threads: ContextVar[list[float] | None] = ContextVar("footprint_cpu", default=None)


def add(db: Session, app: str, member_id: int, seconds: float, requests: int = 1) -> None:
    """Add to today's count of (app, member): an update, or the day's first row."""
    day = utcnow().strftime("%Y-%m-%d")
    where = (AppCpu.day == day, AppCpu.app == app, AppCpu.member_id == member_id)
    more = {"cpu_seconds": AppCpu.cpu_seconds + seconds, "requests": AppCpu.requests + requests}
    if db.execute(update(AppCpu).where(*where).values(**more)).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with db.begin_nested():
            db.add(AppCpu(day=day, app=app, member_id=member_id, requests=requests,
                          cpu_seconds=seconds))  # fmt: skip
    except IntegrityError:  # another request made the day's row meanwhile
        db.execute(update(AppCpu).where(*where).values(**more))


def counted(work: Callable[[], T]) -> Callable[[], T]:
    """`work` (run in a worker thread) with its thread's CPU time added to the route's."""
    tally = _in_threads.get()

    def run() -> T:
        start = time.thread_time()
        try:
            return work()
        finally:
            if tally is not None:
                tally.append(time.thread_time() - start)

    return run


def metered(
    app: str, loop: bool = True
) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T]]]:
    """Count the route's CPU time for the member it serves (its `db` and `visitor`): its time
    on the event loop (`loop`: only for a route that never awaits) and in `counted` work."""

    def wrap(route: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        @functools.wraps(route)
        async def run(*args: Any, **kwargs: Any) -> T:
            tally: list[float] = []
            token = _in_threads.set(tally)
            start = time.thread_time()
            try:
                result = await route(*args, **kwargs)
            finally:
                _in_threads.reset(token)
            seconds = (time.thread_time() - start if loop else 0.0) + sum(tally)
            visitor, db = kwargs.get("visitor"), kwargs.get("db")
            if visitor is not None and visitor.member is not None and db is not None:
                add(db, app, visitor.member.id, seconds)
            return result

        return run

    return wrap


def by_member(db: Session, app: str, since: datetime) -> dict[int, tuple[int, float]]:
    """Per member, (requests, CPU seconds) of `app` from the day of `since` on."""
    rows = db.execute(
        select(AppCpu.member_id, func.sum(AppCpu.requests), func.sum(AppCpu.cpu_seconds))
        .where(AppCpu.app == app, AppCpu.day >= since.strftime("%Y-%m-%d"))
        .group_by(AppCpu.member_id)
    )
    return {int(m): (int(n or 0), float(s or 0.0)) for m, n, s in rows}

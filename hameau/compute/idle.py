"""The owner's sense of idle (issue 15; docs/compute.md, "Offers: owner first").

HTCondor's default policy is the model: a job may start when no one has used the machine for
`compute_idle_minutes` (its StartIdleTime, 15) and the load average is under
`compute_idle_load` (its BackgroundLoad, 0.3), not counting the jobs it runs for others (its
NonCondorLoadAvg); a running job is suspended as soon as a member is active, resumed when the
node is quiet again for a shorter while (its ContinueIdleTime, 5 minutes), and vacated after
`compute_vacate_minutes` suspended (its MaxSuspendTime, 10).

**A member is active**: the accounts already record when each session was last used
(`last_seen_at`, written at most every 30 s) and each app password (`last_used_at`, at most
every minute); the first request after a quiet spell always writes, so activity shows at once,
in every process (the database is shared), at no extra write per request. "Active" is a use
recorded in the last ACTIVE_WINDOW (2 minutes: the records' coarseness plus a margin).

**The load stayed low for the window**: without a timer or samples. The kernel's load averages
are already averages over 1, 5 and 15 minutes (exponentially weighted), so the load counts as
low when the 1-minute average is under the threshold and so is the average whose period covers
the window (5 minutes for a window up to 5, 15 beyond). A burst of a minute or two a while ago
can hide under it (one busy minute adds about 0.07 to the 15-minute average), which costs the
owner nothing: the job yields to any member at once. Sampling instead would mean a timer while
lending is on, and samples lost at each restart. The jobs this process runs for others are
taken out of each average exactly: a job runnable from a to b adds e^-(t-b)/T - e^-(t-a)/T to
the average of period T (the kernel's own filter), so a suspended job's leftover load does not
keep the node "busy" and vacate it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from hameau.node.datadir import Node
from hameau.node.db import utcnow

ACTIVE_WINDOW = timedelta(minutes=2)
RESUME_QUIET = timedelta(minutes=5)  # HTCondor's ContinueIdleTime
PERIODS = (60.0, 300.0, 900.0)  # the kernel's load averages, in seconds
FORGET_AFTER = 7200.0  # a job's interval ended this long ago weighs e^-8 in the 15-min average


class OwnLoad:
    """When the jobs this process runs for others were runnable, to take them out of the
    load averages (HTCondor's CondorLoadAvg)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[object, list[list[float]]] = {}
        self._alive: set[object] = set()  # started and not ended, running or suspended

    def running(self, job: object, now: float | None = None) -> None:
        with self._lock:
            self._alive.add(job)
            spans = self._spans.setdefault(job, [])
            if not spans or spans[-1][1] != math.inf:
                spans.append([time.time() if now is None else now, math.inf])

    def stopped(self, job: object, now: float | None = None) -> None:
        with self._lock:
            spans = self._spans.get(job, [])
            if spans and spans[-1][1] == math.inf:
                spans[-1][1] = time.time() if now is None else now

    def ended(self, job: object, now: float | None = None) -> None:
        self.stopped(job, now)
        with self._lock:
            self._alive.discard(job)

    def count(self) -> int:
        """The jobs lent that hold a place here now (running or suspended): at most the
        offer's cores."""
        with self._lock:
            return len(self._alive)

    def share(self, period: float, now: float | None = None) -> float:
        """What these jobs add to the kernel's load average of this period (seconds) now."""
        now = time.time() if now is None else now
        total = 0.0
        with self._lock:
            for job, spans in list(self._spans.items()):
                spans[:] = [s for s in spans if now - s[1] < FORGET_AFTER]
                if not spans:
                    del self._spans[job]
                for start, end in spans:
                    end = min(end, now)
                    total += math.exp(-(now - end) / period) - math.exp(-(now - start) / period)
        return total


OWN = OwnLoad()  # one per process: the jobs `supervise` runs here


@dataclass(frozen=True)
class State:
    """The node's idleness, with what it rests on (for the admin's page)."""

    idle: bool
    member_active: bool  # a member's request in the last ACTIVE_WINDOW
    last_activity: datetime | None  # the last member request recorded
    quiet_from: datetime | None  # when the node becomes (or became) quiet enough
    load: float | None  # the highest of the averages looked at, our own jobs taken out
    threshold: float
    window_minutes: float

    @property
    def load_low(self) -> bool:
        return self.load is not None and self.load < self.threshold


def load_now(window: timedelta, own: OwnLoad = OWN) -> float | None:
    """The highest of the kernel's averages covering `window` (the 1-minute one always),
    without our own jobs' share; None where the system gives no load average."""
    try:
        averages = os.getloadavg()
    except OSError:
        return None
    minutes = window.total_seconds() / 60
    wanted = [0] + ([1] if minutes > 1 else []) + ([2] if minutes > 5 else [])
    now = time.time()
    return max(max(0.0, averages[i] - own.share(PERIODS[i], now)) for i in wanted)


def last_activity(node: Node, besides: int | None = None) -> datetime | None:
    from hameau.accounts import sessions

    with node.sessions() as db:
        return sessions.last_activity(db, besides)


def state(node: Node, quiet: timedelta | None = None, besides: int | None = None) -> State:
    """Idle when no member used the node for `quiet` (compute_idle_minutes by default) and the
    load stayed under the threshold over that window; `besides`: a login session not counted
    (the admin looking at this state)."""
    settings = node.settings
    window = timedelta(minutes=settings.compute_idle_minutes)
    quiet = window if quiet is None else quiet
    last = last_activity(node, besides)
    now = utcnow()
    active = last is not None and now - last < min(ACTIVE_WINDOW, quiet)
    quiet_from = last + quiet if last is not None else None
    load = load_now(quiet)
    quiet_now = quiet_from is None or quiet_from <= now
    idle = quiet_now and load is not None and load < settings.compute_idle_load
    return State(idle, active, last, quiet_from, load, settings.compute_idle_load,
                 settings.compute_idle_minutes)  # fmt: skip


def is_idle(node: Node) -> bool:
    """The load under the threshold over the whole window and no member active on the node."""
    return state(node).idle


def member_active(node: Node) -> bool:
    """A member used the node (a request under a member session or app password) lately."""
    return state(node).member_active


def may_resume(node: Node) -> bool:
    """A suspended job may go on: quiet again for the shorter ContinueIdleTime (5 minutes, or
    the idle window when shorter) with the load low."""
    window = timedelta(minutes=node.settings.compute_idle_minutes)
    return state(node, quiet=min(RESUME_QUIET, window)).idle

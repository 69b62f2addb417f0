"""Recurring events a calendar can afford: every search of a calendar walks a repeating
event's occurrences from its first one, so a rule that repeats every second (or every minute
since long ago) would hold a process for minutes at each look (Radicale's REPORT, the agenda
page), on a node the whole household shares.

A rule is refused where it comes in (a CalDAV PUT, a satellite's sync) when it repeats more
than `MOST` times before `HORIZON` from now (RFC 4791's CALDAV:max-instances precondition);
the agenda's own walk stops after `WALKED` occurrences of any event, and shows at most
`SHOWN` of them, for rules that came in some other way (an archive made by hand).

A rule can also hold a process without ever repeating: `FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30`
(February 30th) never happens, and dateutil, which vobject, Radicale and the agenda use,
looks for it day after day until the year 9999: 55 s for a PUT, then as long for each
search of that calendar. `bound_walks` makes every walk of a rule end once it has gone
`QUIET` months without an occurrence.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hameau.errors import N_, Forbidden

MOST = 50_000  # occurrences up to the horizon: daily since 1890, hourly for five years
HORIZON = timedelta(days=2 * 366)
WALKED = 100_000  # occurrences the agenda walks of one event, at most
SHOWN = 1_000  # occurrences of one event in a view (a month has 44,640 minutes)
REPEATS = ("VEVENT", "VTODO", "VJOURNAL")
# Months (a yearly rule's years) a walk goes on without an occurrence: a leap day that is a
# Monday comes every 28 years or so; looking 50 years for a rule that never happens costs
# about 0.4 s of one core.
QUIET = 600
TOO_OFTEN = N_(
    "'%(summary)s' repeats too often (more than 50,000 times from its start to two years"
    " from now): give it an end, or a longer interval."
)


class RepeatsTooOften(Forbidden):
    """403, as RFC 4791 says of a resource that would make more instances than allowed."""


def _moment(value: date | datetime, like: date | datetime) -> datetime:
    """``value`` comparable with the occurrences of a rule starting at ``like``."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, datetime.min.time())
    if isinstance(like, datetime) and like.tzinfo is not None:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return value.replace(tzinfo=None)


_PATCHING = threading.Lock()


class _Quiet(Exception):
    """A walk went `QUIET` months without an occurrence."""


def bound_walks() -> None:
    """Make every walk of a dateutil rule in this process end once it has gone `QUIET`
    months (or years, for a yearly rule) without an occurrence, as if the rule ended there.

    dateutil calls its `_iterinfo.rebuild` at each new month (each new year or month for a
    yearly or monthly rule) of a walk, whatever the rule: that is where the months are
    counted, and the count starts again at each occurrence. These two are dateutil's own
    names (2.9); `tests/calendar/test_recurrence.py` fails if they change."""
    from dateutil import rrule

    with _PATCHING:
        if not getattr(rrule.rrule._iter, "bounded", False):
            _bound(rrule)


def _bound(rrule: Any) -> None:
    walk, rebuild = rrule.rrule._iter, rrule._iterinfo.rebuild

    def counted(self: Any, year: int, month: int) -> Any:
        owner = self.rrule
        owner.quiet_months = getattr(owner, "quiet_months", 0) + 1
        if owner.quiet_months > QUIET:
            raise _Quiet
        return rebuild(self, year, month)

    def bounded(self: Any) -> Iterator[datetime]:
        self.quiet_months = 0
        try:
            for moment in walk(self):
                self.quiet_months = 0
                yield moment
        except _Quiet:
            return

    bounded.bounded = True  # type: ignore[attr-defined]
    rrule._iterinfo.rebuild = counted
    rrule.rrule._iter = bounded


def check(calendar: Any) -> None:
    """Raise RepeatsTooOften if a component of ``calendar`` (a vobject VCALENDAR) repeats
    more than `MOST` times before `HORIZON` from now. Costs at most `MOST` steps a rule."""
    bound_walks()
    for component in calendar.getChildren():
        if component.name not in REPEATS or not hasattr(component, "rrule"):
            continue
        if not hasattr(component, "dtstart"):
            continue  # a VTODO without a start: nothing to walk from
        first = component.dtstart.value
        horizon = _moment(datetime.now(UTC) + HORIZON, first)
        last = _last(component)
        if last is not None and _moment(last, first) < horizon:
            summary = str(component.summary.value)[:80] if hasattr(component, "summary") else ""
            raise RepeatsTooOften(TOO_OFTEN, summary=summary)


def _last(component: Any) -> Any:
    """The occurrence after the first `MOST` of ``component``'s rules; None if there are
    fewer, or if they cannot be read (Radicale refuses those in its own words)."""
    try:
        return next(itertools.islice(component.getrruleset(addRDate=True), MOST, None), None)
    except Exception:  # vobject and dateutil raise many kinds on a bad rule
        return None


def between(rules: Any, start: datetime, end: datetime) -> Iterator[datetime]:
    """The occurrences of ``rules`` in [start, end]: at most `SHOWN`, walking at most
    `WALKED` of them."""
    bound_walks()
    shown = 0
    for moment in itertools.islice(rules, WALKED):
        if moment > end or shown == SHOWN:
            return
        if moment >= start:
            shown += 1
            yield moment

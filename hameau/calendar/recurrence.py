"""Recurring events a calendar can afford: every search of a calendar walks a repeating
event's occurrences from its first one, so a rule that repeats every second (or every minute
since long ago) would hold a process for minutes at each look (Radicale's REPORT, the agenda
page), on a node the whole household shares.

A rule is refused where it comes in (a CalDAV PUT, a satellite's sync) when it repeats more
than `MOST` times before `HORIZON` from now (RFC 4791's CALDAV:max-instances precondition);
the agenda's own walk stops after `WALKED` occurrences of any event, and shows at most
`SHOWN` of them, for rules that came in some other way (an archive made by hand).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hameau.errors import N_, Forbidden

MOST = 50_000  # occurrences up to the horizon: daily since 1890, hourly for five years
HORIZON = timedelta(days=2 * 366)
WALKED = 100_000  # occurrences the agenda walks of one event, at most
SHOWN = 1_000  # occurrences of one event in a view (a month has 44,640 minutes)
REPEATS = ("VEVENT", "VTODO", "VJOURNAL")
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


def check(calendar: Any) -> None:
    """Raise RepeatsTooOften if a component of ``calendar`` (a vobject VCALENDAR) repeats
    more than `MOST` times before `HORIZON` from now. Costs at most `MOST` steps a rule."""
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
    shown = 0
    for moment in itertools.islice(rules, WALKED):
        if moment > end or shown == SHOWN:
            return
        if moment >= start:
            shown += 1
            yield moment

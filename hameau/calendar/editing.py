"""An event edited in the agenda's form: the fields the form shows are set on the event as
it is stored, and nothing else of it changes. An event made by a phone or a desktop client
holds more than the form shows (a repeat rule and its exceptions, alarms, attendees,
categories): rebuilding it from the form would drop those without a word.

The form carries the event's ETag as it was shown; saving over an event changed (or
deleted) meanwhile, from another device, is refused in words instead of undoing that change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hameau.errors import N_, Conflict

CHANGED = N_(
    "This event was changed meanwhile, on another device; open it again to see that change,"
    " then edit it."
)
GONE = N_("This event was deleted meanwhile, on another device; nothing was saved.")


@dataclass(frozen=True)
class Fields:
    """What the agenda's form sets."""

    summary: str
    start: datetime
    end: datetime
    location: str
    description: str


def check_unchanged(found: Any, shown: str) -> None:
    """The stored item (None: not there) against the ETag the form was shown with ("": a
    new event)."""
    if not shown:
        return
    if found is None:
        raise Conflict(GONE)
    if found.etag != shown:
        raise Conflict(CHANGED)


def _set(component: Any, name: str, value: Any) -> None:
    """The property ``name`` ("last-modified") holds ``value`` alone (removed when
    ``value`` is empty)."""
    attribute = name.replace("-", "_")  # as vobject reads it
    while hasattr(component, attribute):
        component.remove(getattr(component, attribute))
    if value not in ("", None):
        component.add(name).value = value


def new_calendar(uid: str, fields: Fields) -> Any:
    import vobject

    calendar = vobject.iCalendar()
    vevent = calendar.add("vevent")
    vevent.add("uid").value = uid
    _fill(vevent, fields)
    return calendar


def edited(calendar: Any, uid: str, fields: Fields) -> Any:
    """The stored calendar object with its event ``uid`` (the series, not one of its
    exceptions) set to ``fields``; its other properties and components as they were."""
    master = next(
        vevent for vevent in calendar.vevent_list
        if str(vevent.uid.value) == uid and not hasattr(vevent, "recurrence_id")
    )  # fmt: skip
    _fill(master, fields)
    sequence = int(master.sequence.value) if hasattr(master, "sequence") else 0
    _set(master, "sequence", str(sequence + 1))
    _set(master, "last-modified", datetime.now(_utc()).replace(microsecond=0))
    return calendar


def _utc() -> Any:
    """UTC as vobject writes it (with a "Z"): dateutil's; it cannot name Python's own."""
    from dateutil import tz

    return tz.tzutc()


def _fill(vevent: Any, fields: Fields) -> None:
    utc = _utc()  # stored in UTC, written with a "Z", as every client reads it
    _set(vevent, "summary", fields.summary)
    _set(vevent, "dtstart", fields.start.astimezone(utc))
    _set(vevent, "duration", None)
    _set(vevent, "dtend", fields.end.astimezone(utc))
    _set(vevent, "location", fields.location.strip()[:200])
    _set(vevent, "description", fields.description.strip()[:5000])
    _set(vevent, "dtstamp", datetime.now(utc))

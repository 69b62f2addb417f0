"""The pages' view of Radicale's storage: the same collections the CalDAV clients see.

Each member has a calendar (`/<name>/agenda/`) and an address book
(`/<name>/contacts/`); the household has a shared calendar (`/household/agenda/`).
They are made the first time a member opens the agenda.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any

from hameau.calendar import editing, merge, recurrence
from hameau.calendar import storage as mounted
from hameau.errors import BadRequest, Forbidden, NotFound
from hameau.node.datadir import Node


@dataclass(frozen=True)
class Calendar:
    path: str  # "alex/agenda"
    name: str
    shared: bool


@dataclass(frozen=True)
class Event:
    calendar: Calendar
    uid: str
    summary: str
    start: datetime
    end: datetime
    all_day: bool
    location: str
    description: str
    etag: str = ""  # the stored item's, as the form was shown it (`event`)


@dataclass(frozen=True)
class Contact:
    name: str
    emails: list[str]
    phones: list[str]


def _as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


class CalendarStore:
    def __init__(self, node: Node) -> None:
        self.node = node

    @cached_property
    def storage(self) -> Any:
        from radicale import storage

        return storage.load(mounted.configuration(self.node))

    def ensure(self, member: str) -> None:
        """Create the member's calendar and address book, and the household's calendar."""
        wanted = {
            f"/{member}/": {},
            f"/{member}/agenda/": {"tag": "VCALENDAR", "D:displayname": "Agenda"},
            f"/{member}/contacts/": {"tag": "VADDRESSBOOK", "D:displayname": "Contacts"},
            f"/{mounted.HOUSEHOLD}/": {},
            f"/{mounted.HOUSEHOLD}/agenda/": {"tag": "VCALENDAR", "D:displayname": "Foyer"},
        }
        with self.storage.acquire_lock("w", member):
            for href, props in wanted.items():
                if not list(self.storage.discover(href, depth="0")):
                    self.storage.create_collection(href, props=props)

    def calendars(self, member: str) -> list[Calendar]:
        found = []
        with self.storage.acquire_lock("r", member):
            for owner in (member, mounted.HOUSEHOLD):
                for collection in list(self.storage.discover(f"/{owner}/", depth="1"))[1:]:
                    if collection.get_meta("tag") == "VCALENDAR":
                        name = collection.get_meta("D:displayname") or collection.path
                        found.append(Calendar(collection.path, name, owner == mounted.HOUSEHOLD))
        return found

    def _collection(self, member: str, path: str) -> Any:
        owner = path.split("/")[0]
        if owner not in (member, mounted.HOUSEHOLD) or path.count("/") != 1:
            raise Forbidden("This calendar is not yours.")
        found = list(self.storage.discover(f"/{path}/", depth="0"))
        if not found:
            raise NotFound("No such calendar.")
        return found[0]

    def events(self, member: str, start: datetime, end: datetime) -> list[Event]:
        """Events (recurrences expanded) that overlap [start, end), by start time."""
        found = []
        for calendar in self.calendars(member):
            with self.storage.acquire_lock("r", member):
                items = list(self._collection(member, calendar.path).get_all())
            for item in items:
                for vevent in getattr(item.vobject_item, "vevent_list", []):
                    found.extend(self._occurrences(calendar, vevent, start, end))
        return sorted(found, key=lambda event: event.start)

    @staticmethod
    def _occurrences(
        calendar: Calendar, vevent: Any, start: datetime, end: datetime
    ) -> list[Event]:
        first = vevent.dtstart.value
        all_day = not isinstance(first, datetime)
        begin = _as_datetime(first)
        if hasattr(vevent, "dtend"):
            length = _as_datetime(vevent.dtend.value) - begin
        elif hasattr(vevent, "duration"):
            length = vevent.duration.value
        else:
            length = timedelta(days=1) if all_day else timedelta(0)
        starts = [begin]
        if hasattr(vevent, "rrule"):
            rules = vevent.getrruleset(addRDate=True)
            naive = first if isinstance(first, datetime) else datetime.combine(first, time())
            window = (start - length, end)
            if naive.tzinfo is None:
                window = (window[0].replace(tzinfo=None), window[1].replace(tzinfo=None))
            starts = [_as_datetime(moment) for moment in recurrence.between(rules, *window)]
        text = lambda name: str(getattr(vevent, name).value) if hasattr(vevent, name) else ""  # noqa: E731
        return [
            Event(
                calendar,
                text("uid"),
                text("summary"),
                moment,
                moment + length,
                all_day,
                text("location"),
                text("description"),
            )
            for moment in starts
            if (moment < end and moment + length > start)
            or (moment == start and length == timedelta(0))
        ]

    def event(self, member: str, path: str, uid: str) -> Event:
        with self.storage.acquire_lock("r", member):
            collection = self._collection(member, path)
            items = list(collection.get_all())
        for item in items:
            vevent = getattr(item.vobject_item, "vevent", None)
            if vevent is not None and str(vevent.uid.value) == uid:
                calendar = next(c for c in self.calendars(member) if c.path == path)
                begin = _as_datetime(vevent.dtstart.value)
                found = self._occurrences(calendar, vevent, begin, begin + timedelta(days=3660))
                if found:
                    return dataclasses.replace(found[0], etag=item.etag)
        raise NotFound("No such event.")

    def save_event(
        self,
        member: str,
        path: str,
        summary: str,
        start: datetime,
        end: datetime,
        *,
        uid: str | None = None,
        location: str = "",
        description: str = "",
        etag: str = "",
        was: str = "",
    ) -> str:
        """Create an event, or edit the one with this UID as the form showed it (``etag``,
        in the calendar ``was``; moved to ``path`` if another): only the form's fields
        change, the rest of the event stays. Returns its UID."""
        from radicale import item as radicale_item

        summary = summary.strip()
        if not summary or len(summary) > 200:
            raise BadRequest("An event needs a title of 1 to 200 characters.")
        if end < start:
            raise BadRequest("An event cannot end before it starts.")
        fields = editing.Fields(summary, start, end, location, description)
        uid = uid or str(uuid.uuid4())
        with self.storage.acquire_lock("w", member):
            source = self._collection(member, was or path)
            target = self._collection(member, path)
            found = next((item for item in source.get_all() if str(item.uid) == uid), None)
            editing.check_unchanged(found, etag)
            calendar = (
                editing.edited(found.vobject_item, uid, fields)
                if found is not None
                else editing.new_calendar(uid, fields)
            )
            recurrence.check(calendar)
            item = radicale_item.Item(collection_path=path, vobject_item=calendar)
            item.prepare()
            there = next((i.href for i in target.get_all() if str(i.uid) == uid), None)
            target.upload(there or f"{uid}.ics", item)
            if found is not None and source.path != target.path:  # moved to another calendar
                source.delete(found.href)
        return uid

    # ------------------------------------------------------------ sync (travel)

    def items(self, member: str, path: str) -> dict[str, str]:
        """Every event of a calendar as iCalendar text, by UID."""
        found = {}
        with self.storage.acquire_lock("r", member):
            for item in self._collection(member, path).get_all():
                if item.uid:
                    found[str(item.uid)] = item.serialize()
        return found

    def put_item(self, member: str, path: str, uid: str, text: str) -> None:
        """Store one event as given (iCalendar text carrying this UID), replacing that UID's."""
        self.set_if_unchanged(member, path, {uid: (text, None)}, compare=False)

    def set_if_unchanged(
        self,
        member: str,
        path: str,
        events: dict[str, tuple[str | None, str | None]],
        compare: bool = True,
    ) -> tuple[list[str], list[str]]:
        """Each event by UID set to its text (None: deleted), only if its text's digest is
        still the one given (None: absent), all under the storage's write lock (which
        CalDAV's own writes take too): no write lands between the compare and the set.
        Returns the UIDs set and those changed meanwhile (left as they are)."""
        from radicale import item as radicale_item

        for uid, (text, _was) in events.items():  # every one checked before any is set
            if text is not None:
                self._checked(path, uid, text)
        done: tuple[list[str], list[str]] = ([], [])
        with self.storage.acquire_lock("w", member):
            collection = self._collection(member, path)
            held = {str(item.uid): item for item in collection.get_all() if item.uid}
            for uid, (text, was) in events.items():
                here = held.get(uid)
                if compare and (merge.digest(here.serialize()) if here else None) != was:
                    done[1].append(uid)
                    continue
                if text is None:
                    if here is not None:
                        collection.delete(here.href)
                else:
                    item = radicale_item.Item(collection_path=path, text=text)
                    collection.upload(here.href if here else f"{uid}.ics", item)
                done[0].append(uid)
        return done

    @staticmethod
    def _checked(path: str, uid: str, text: str) -> None:
        """An event's iCalendar text, read and checked (its UID, how often it repeats)."""
        from radicale import item as radicale_item

        try:
            vobject_item = radicale_item.read_components(text)
            component = radicale_item.Item(collection_path=path, vobject_item=vobject_item[0])
            component.prepare()
        except Exception as error:  # vobject raises many kinds on bad text
            raise BadRequest("This event is not valid iCalendar text.") from error
        recurrence.check(vobject_item[0])
        if str(component.uid) != uid:
            raise BadRequest("This event's UID is not the one it was sent as.")

    def delete_item(self, member: str, path: str, uid: str) -> None:
        with self.storage.acquire_lock("w", member):
            collection = self._collection(member, path)
            for item in list(collection.get_all()):
                if str(item.uid) == uid:
                    collection.delete(item.href)

    def contacts(self, member: str) -> list[Contact]:
        found = []
        with self.storage.acquire_lock("r", member):
            for collection in list(self.storage.discover(f"/{member}/", depth="1"))[1:]:
                if collection.get_meta("tag") != "VADDRESSBOOK":
                    continue
                for item in collection.get_all():
                    card = item.vobject_item
                    name = str(card.fn.value) if hasattr(card, "fn") else "?"
                    emails = [str(line.value) for line in getattr(card, "email_list", [])]
                    phones = [str(line.value) for line in getattr(card, "tel_list", [])]
                    found.append(Contact(name, emails, phones))
        return sorted(found, key=lambda contact: contact.name.lower())

    def export(self, member: str) -> dict[str, str]:
        """Every collection of the member as one text file: {"agenda.ics": ..., "contacts.vcf": ...}."""
        files = {}
        with self.storage.acquire_lock("r", member):
            for collection in list(self.storage.discover(f"/{member}/", depth="1"))[1:]:
                tag = collection.get_meta("tag")
                if tag in ("VCALENDAR", "VADDRESSBOOK"):
                    name = collection.path.rsplit("/", 1)[-1]
                    files[f"{name}.{'ics' if tag == 'VCALENDAR' else 'vcf'}"] = (
                        collection.serialize()
                    )
        return files

    def keep_only(self, member: str, names: set[str]) -> None:
        """Delete the member's calendars and address books not named in ``names``."""
        with self.storage.acquire_lock("w", member):
            for collection in list(self.storage.discover(f"/{member}/", depth="1"))[1:]:
                name = collection.path.rsplit("/", 1)[-1]
                if (
                    collection.get_meta("tag") in ("VCALENDAR", "VADDRESSBOOK")
                    and name not in names
                ):
                    collection.delete()

    def import_collection(
        self, member: str, name: str, tag: str, text: str, replace: bool = False
    ) -> int:
        """Put every item of an exported collection (`export`'s text) into the member's
        collection of that name, made if missing; an item is replaced by UID, so importing
        again changes nothing (``replace``: items the text lacks are deleted). Returns how
        many items it held."""
        import vobject
        from radicale import item as radicale_item

        try:
            components = list(vobject.readComponents(text)) if text.strip() else []
        except Exception as error:  # vobject raises many kinds on bad text
            raise BadRequest("This calendar or address book is not valid text.") from error
        items: dict[str, Any] = {}
        for component in components:
            if tag == "VADDRESSBOOK":
                items[str(radicale_item.get_uid(component))] = component
                continue
            zones = getattr(component, "vtimezone_list", [])
            for kind in ("vevent", "vtodo", "vjournal"):
                for part in getattr(component, f"{kind}_list", []):
                    uid = str(part.uid.value)
                    if uid not in items:
                        items[uid] = vobject.iCalendar()
                        for zone in zones:
                            items[uid].add(zone)
                    items[uid].add(part)
        href = f"/{member}/{name}/"
        label = "Contacts" if tag == "VADDRESSBOOK" else name.capitalize()
        with self.storage.acquire_lock("w", member):
            if not list(self.storage.discover(href, depth="0")):
                self.storage.create_collection(href, props={"tag": tag, "D:displayname": label})
            collection = self._collection(member, f"{member}/{name}")
            hrefs = {str(item.uid): item.href for item in collection.get_all()}
            for uid in set(hrefs) - set(items) if replace else ():
                collection.delete(hrefs.pop(uid))
            for uid, vobject_item in items.items():
                item = radicale_item.Item(
                    collection_path=f"{member}/{name}", vobject_item=vobject_item
                )
                item.prepare()
                collection.upload(
                    hrefs.get(uid, f"{uid}.{'vcf' if tag == 'VADDRESSBOOK' else 'ics'}"), item
                )
        return len(items)

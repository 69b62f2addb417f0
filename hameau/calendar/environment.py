"""The calendar part of a member's environment: their calendars and address books.

    calendars/<name>.ics   each of their calendars, as one iCalendar file
    contacts/<name>.vcf    each of their address books, as one vCard file

The household's shared calendar is the household's, not the member's: it stays. Import puts
every event and contact into the collection of the same name (made if missing), replacing the
one with the same UID, so importing again changes nothing.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.calendar.store import CalendarStore
from hameau.node.datadir import Node
from hameau.node.environment import ArchiveReader, ArchiveWriter, Usage

FOLDERS = {"calendars/": ("ics", "VCALENDAR"), "contacts/": ("vcf", "VADDRESSBOOK")}


def export(node: Node, session: Session, member: Member, archive: ArchiveWriter) -> None:
    for name, text in CalendarStore(node).export(member.name).items():
        folder = "calendars" if name.endswith(".ics") else "contacts"
        archive.add(f"{folder}/{name}", text.encode())


def import_(
    node: Node, session: Session, member: Member, archive: ArchiveReader, replace: bool = False
) -> None:
    """``replace``: the member's collections become the archive's (an event or contact it
    lacks was deleted at the other home: deleted here too)."""
    store = CalendarStore(node)
    store.ensure(member.name)
    named: set[str] = set()
    for folder, (extension, tag) in FOLDERS.items():
        for path in archive.paths(folder):
            name = path[len(folder) :].removesuffix(f".{extension}")
            if not re.fullmatch(r"[\w-]{1,100}", name):
                continue  # not one of ours: a collection is one file at the folder's top
            text = archive.read(path).decode("utf-8", "replace")
            store.import_collection(member.name, name, tag, text, replace)
            named.add(name)
    if replace:
        store.keep_only(member.name, named)


def usage(node: Node, session: Session, member: Member) -> Usage:
    store = CalendarStore(node)
    exported = store.export(member.name)
    rows = sum(text.count("BEGIN:VEVENT") + text.count("BEGIN:VCARD") for text in exported.values())
    return Usage(sum(len(text.encode()) for text in exported.values()), rows)

"""A folder's entries a page at a time, for every door: the pages, the JSON API and WebDAV.

Sorted as the pages always showed them (folders first, then by name, case aside; the id
breaks ties), and read by keyset: each page starts after the last entry of the one before,
so a folder of 20,000 files never sits whole in memory, and reading it page by page gives
every entry once even when entries come and go in between. The cursor is opaque to
clients: it names the last entry by its id, never by its name (a shared device's history
keeps no file name).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from hameau.errors import BadRequest
from hameau.files.models import FileEntry
from hameau.node.db import transaction

PAGE = 200  # entries on a folder's page
API_LIMIT = 1000  # the most the JSON API gives at once (and its default)
BATCH = 500  # entries read per transaction when a listing is streamed (PROPFIND)


@dataclass(frozen=True)
class Page:
    entries: list[FileEntry]
    cursor: str | None  # where the next page starts; None on the last page


def bad_cursor() -> BadRequest:
    return BadRequest("This listing's cursor cannot be read; start again from its first page.")


def _after(session: Session, folder_id: int, cursor: str) -> object:
    """The condition "sorts after the entry the cursor names" (it must be of this folder)."""
    if not cursor.isdigit() or len(cursor) > 18:
        raise bad_cursor()
    found = session.execute(
        select(FileEntry.is_dir, func.lower(FileEntry.name)).where(
            FileEntry.id == int(cursor), FileEntry.parent_id == folder_id
        )
    ).first()
    if found is None:  # deleted for good, or moved away, since the page before
        raise BadRequest(
            "This folder changed while it was listed; start again from its first page."
        )
    is_dir, name = found
    # The first term lets SQLite enter the listing index (models.py) right at the cursor.
    key = func.lower(FileEntry.name)
    later = and_(key >= name, tuple_(key, FileEntry.id) > tuple_(name, int(cursor)))
    same_kind = and_(FileEntry.is_dir.is_(bool(is_dir)), later)
    return or_(FileEntry.is_dir.is_(False), same_kind) if is_dir else same_kind


def page(session: Session, folder: FileEntry, limit: int, cursor: str | None = None) -> Page:
    """Up to ``limit`` live entries of ``folder``, after ``cursor`` (from the start if None)."""
    query = select(FileEntry).where(
        FileEntry.parent_id == folder.id, FileEntry.deleted_at.is_(None)
    )
    if cursor:
        query = query.where(_after(session, folder.id, cursor))  # type: ignore[arg-type]
    ordered = query.order_by(FileEntry.is_dir.desc(), func.lower(FileEntry.name), FileEntry.id)
    rows = list(session.scalars(ordered.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more and rows else None)


def batches(
    sessions: sessionmaker[Session], folder_id: int, size: int = BATCH
) -> Iterator[list[FileEntry]]:
    """A whole folder, ``size`` entries at a time, each batch read in a transaction of its
    own (none is held while the caller sends the one before to a slow client)."""
    cursor: str | None = None
    while True:
        with transaction(sessions) as session:
            folder = session.get(FileEntry, folder_id)
            if folder is None:
                return
            found = page(session, folder, size, cursor)
            session.expunge_all()  # read after the transaction: plain values, no lazy loads
        if found.entries:
            yield found.entries
        if found.cursor is None:
            return
        cursor = found.cursor

"""WebDAV dead properties: what clients store on a file or folder with PROPPATCH.

Windows writes its own (`Win32LastModifiedTime`, ...) after each copy, Office and others
theirs. They belong to the entry (table `dav_properties`): a move keeps them, a copy copies
them, purging the entry removes them, and their bytes count in the quota of who set them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.errors import InsufficientStorage
from hameau.files import quota
from hameau.files.models import DavProperty, FileEntry

MAX_PROPERTIES = 256  # on one file or folder: Windows sets four, office suites a few more
MAX_NAME = 1000  # characters in a property's name, namespace included (the column's size)
MAX_VALUE = 64 << 10  # bytes of one value: clients store dates, flags and short texts
LISTED = 4096  # values up to this size are read with a listing; larger ones when asked


def listed(session: Session, entry_ids: list[int]) -> dict[int, dict[str, bytes | None]]:
    """The properties of these entries (a batch of a listing) in one query: each name with
    its value, or None for a value larger than `LISTED` (`value` reads it when asked)."""
    return _listed(session, DavProperty.entry_id.in_(entry_ids))


def listed_below(session: Session, folder_id: int) -> dict[int, dict[str, bytes | None]]:
    """`listed` for all of a folder's children."""
    return _listed(session, FileEntry.parent_id == folder_id, by_folder=True)


def _listed(
    session: Session, condition: Any, by_folder: bool = False
) -> dict[int, dict[str, bytes | None]]:
    small = case((DavProperty.size <= LISTED, DavProperty.value), else_=None)
    query = select(DavProperty.entry_id, DavProperty.name, small)
    if by_folder:
        query = query.join(FileEntry, FileEntry.id == DavProperty.entry_id)
    found: dict[int, dict[str, bytes | None]] = {}
    for entry_id, name, data in session.execute(query.where(condition).order_by(DavProperty.id)):
        found.setdefault(entry_id, {})[name] = data
    return found


def value(session: Session, entry_id: int, name: str) -> bytes | None:
    return session.scalar(
        select(DavProperty.value).where(DavProperty.entry_id == entry_id, DavProperty.name == name)
    )


def put(session: Session, member: Member, entry_id: int, name: str, data: bytes) -> None:
    """One property as an archive gives it (`hameau import`): kept as it was, past the
    number a PROPPATCH may reach, so that nothing a member had is lost on the way."""
    change(session, member, entry_id, {name: data}, limited=False)


def change(
    session: Session,
    member: Member,
    entry_id: int,
    changes: dict[str, bytes | None],
    limited: bool = True,
) -> None:
    """A PROPPATCH's changes (a value, or None to remove), all in this one transaction: RFC
    4918 wants all of them done or none. Checked here against the rows, whatever the request
    found before: the number of properties (when ``limited``), then the quota."""
    rows = {row.name: row for row in session.scalars(_of(entry_id))}
    after = {name for name in rows if changes.get(name, b"") is not None}
    after.update(name for name, data in changes.items() if data is not None)
    if limited and len(after) > MAX_PROPERTIES and len(after) > len(rows):
        raise too_many()
    grows = sum(
        (_size(name, data) if data is not None else 0) - (rows[name].size if name in rows else 0)
        for name, data in changes.items()
    )
    if grows > 0 and grows > quota.room_left(session, member):
        raise quota.over_quota()
    for name, data in changes.items():
        row = rows.get(name)
        if data is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(
                DavProperty(
                    entry_id=entry_id, name=name, value=data, size=_size(name, data),
                    charged_to=member.id,
                )
            )  # fmt: skip
        else:
            row.value, row.size, row.charged_to = data, _size(name, data), member.id
    session.flush()


def _of(entry_id: int) -> Any:
    return select(DavProperty).where(DavProperty.entry_id == entry_id).order_by(DavProperty.id)


def _size(name: str, data: bytes) -> int:
    return len(name.encode()) + len(data)


def too_many() -> InsufficientStorage:
    return InsufficientStorage(
        "A file or folder can hold at most %(most)s WebDAV properties;"
        " remove some before setting others.",
        most=MAX_PROPERTIES,
    )


def copy(session: Session, member: Member, source_id: int, target_id: int) -> None:
    """The target gets exactly the source's properties, charged to who copies."""
    session.execute(delete(DavProperty).where(DavProperty.entry_id == target_id))
    found = list(session.scalars(select(DavProperty).where(DavProperty.entry_id == source_id)))
    if sum(prop.size for prop in found) > quota.room_left(session, member):
        raise quota.over_quota()
    for prop in found:
        session.add(
            DavProperty(
                entry_id=target_id,
                name=prop.name,
                value=prop.value,
                size=prop.size,
                charged_to=member.id,
            )
        )
    session.flush()


class DeadProperties:
    """What a WebDAV file or folder adds to WsgiDAV's resource for dead properties: they are
    read from and written to `dav_properties` by entry, instead of a property manager by URL.

    Read once per resource (a listing reads them for each batch of its entries), so that a
    PROPFIND naming properties costs no query per property and file. A PROPPATCH's dry run
    (WsgiDAV checks each change, then makes them all) only gathers the changes and checks
    what it can without the database; the first real change makes them all, in one
    transaction, and the others report its outcome."""

    entry_id: int | None
    context: Any  # dav._Context
    known: dict[str, bytes | None] | None = None  # name → value (None: a large one, unread)
    _changes: dict[str, bytes | None] | None = None  # a PROPPATCH's, in the request's order
    _made: BaseException | bool = False  # the changes' outcome: True, or why they failed

    def _check_writable(self) -> None: ...

    def _properties(self) -> dict[str, bytes | None]:
        if self.known is None:
            entry_id = self.entry_id
            if entry_id is None:
                self.known = {}
            else:
                found = self.context.run(lambda session, _member: listed(session, [entry_id]))
                self.known = found.get(entry_id, {})
        return self.known

    def get_property_names(self, *, is_allprop: bool) -> list[str]:
        found: list[str] = super().get_property_names(is_allprop=is_allprop)  # type: ignore[misc]
        return found + list(self._properties())

    def get_property_value(self, name: str) -> Any:
        if name.startswith("{DAV:}"):
            return super().get_property_value(name)  # type: ignore[misc]
        from wsgidav import xml_tools
        from wsgidav.dav_error import HTTP_NOT_FOUND, DAVError

        properties, entry_id = self._properties(), self.entry_id
        data = properties.get(name)
        if data is None and name in properties and entry_id is not None:  # a large value
            data = self.context.run(lambda session, _member: value(session, entry_id, name))
        if data is None:
            raise DAVError(HTTP_NOT_FOUND)
        return xml_tools.string_to_xml(data)

    def set_property_value(self, name: str, element: Any, *, dry_run: bool = False) -> None:
        if name.startswith("{DAV:}"):  # live properties: WsgiDAV refuses what is protected
            return super().set_property_value(name, element, dry_run=dry_run)  # type: ignore[misc]
        from wsgidav import xml_tools
        from wsgidav.dav_error import HTTP_FORBIDDEN, DAVError

        self._check_writable()
        if self.entry_id is None:
            raise DAVError(HTTP_FORBIDDEN)
        if dry_run:
            data = None if element is None else xml_tools.xml_to_bytes(element, pretty=False)
            self._gather(name, data)
        else:
            self._make()
        return None

    def _gather(self, name: str, data: bytes | None) -> None:
        """One change of a PROPPATCH's dry run, its name and size checked. The number of
        properties and the quota are checked once all are gathered (`change`): a request
        may remove some and add others."""
        from wsgidav.dav_error import HTTP_FORBIDDEN, HTTP_INSUFFICIENT_STORAGE, DAVError

        if self._changes is None:
            self._changes = {}
        if len(name) > MAX_NAME:
            raise DAVError(
                HTTP_FORBIDDEN,
                context_info=f"A property's name can be at most {MAX_NAME} characters long.",
            )
        if data is not None and len(data) > MAX_VALUE:
            raise DAVError(
                HTTP_INSUFFICIENT_STORAGE,
                context_info=f"A property's value can be at most {MAX_VALUE >> 10} KiB.",
            )
        self._changes.pop(name, None)  # a later change of the same name comes after
        self._changes[name] = data

    def _make(self) -> None:
        """The PROPPATCH's changes, all made at its first real change; each later one gets
        the same outcome."""
        if self._made is False:
            changes, entry_id = dict(self._changes or {}), self.entry_id
            assert entry_id is not None
            try:
                self.context.run(lambda s, member: change(s, member, entry_id, changes))
            except Exception as error:
                self._made = error
                raise
            self._made = True
            known = self._properties()
            for name, data in changes.items():
                known.pop(name, None)
                if data is not None:
                    known[name] = data if len(data) <= LISTED else None
        if isinstance(self._made, BaseException):
            raise self._made

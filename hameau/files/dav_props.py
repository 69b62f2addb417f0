"""WebDAV dead properties: what clients store on a file or folder with PROPPATCH.

Windows writes its own (`Win32LastModifiedTime`, ...) after each copy, Office and others
theirs. They belong to the entry (table `dav_properties`): a move keeps them, a copy copies
them, purging the entry removes them, and their bytes count in the quota of who set them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.files import quota
from hameau.files.models import DavProperty, FileEntry


def names(session: Session, entry_id: int) -> list[str]:
    query = select(DavProperty.name).where(DavProperty.entry_id == entry_id)
    return list(session.scalars(query.order_by(DavProperty.id)))


def names_below(session: Session, folder_id: int) -> dict[int, list[str]]:
    """The property names of a folder's children, in one query (for a listing)."""
    query = (
        select(DavProperty.entry_id, DavProperty.name)
        .join(FileEntry, FileEntry.id == DavProperty.entry_id)
        .where(FileEntry.parent_id == folder_id)
        .order_by(DavProperty.id)
    )
    found: dict[int, list[str]] = {}
    for entry_id, name in session.execute(query):
        found.setdefault(entry_id, []).append(name)
    return found


def names_of(session: Session, entry_ids: list[int]) -> dict[int, list[str]]:
    """The property names of these entries, in one query (for a batch of a listing)."""
    query = (
        select(DavProperty.entry_id, DavProperty.name)
        .where(DavProperty.entry_id.in_(entry_ids))
        .order_by(DavProperty.id)
    )
    found: dict[int, list[str]] = {}
    for entry_id, name in session.execute(query):
        found.setdefault(entry_id, []).append(name)
    return found


def value(session: Session, entry_id: int, name: str) -> bytes | None:
    return session.scalar(
        select(DavProperty.value).where(DavProperty.entry_id == entry_id, DavProperty.name == name)
    )


def _find(session: Session, entry_id: int, name: str) -> DavProperty | None:
    return session.scalar(
        select(DavProperty).where(DavProperty.entry_id == entry_id, DavProperty.name == name)
    )


def check_room(session: Session, member: Member, entry_id: int, name: str, data: bytes) -> None:
    """Raise InsufficientStorage when setting this value would pass the member's quota."""
    old = _find(session, entry_id, name)
    grows = len(name.encode()) + len(data) - (old.size if old else 0)
    if grows > 0 and grows > quota.room_left(session, member):
        raise quota.over_quota()


def put(session: Session, member: Member, entry_id: int, name: str, data: bytes) -> None:
    check_room(session, member, entry_id, name, data)
    size = len(name.encode()) + len(data)
    found = _find(session, entry_id, name)
    if found is None:
        session.add(
            DavProperty(entry_id=entry_id, name=name, value=data, size=size, charged_to=member.id)
        )
    else:
        found.value, found.size, found.charged_to = data, size, member.id
    session.flush()


def remove(session: Session, entry_id: int, name: str) -> None:
    session.execute(
        delete(DavProperty).where(DavProperty.entry_id == entry_id, DavProperty.name == name)
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
    read from and written to `dav_properties` by entry, instead of a property manager by URL."""

    entry_id: int | None
    context: Any  # dav._Context
    known_names: list[str] | None = None  # given by the folder's listing, to save a query

    def _check_writable(self) -> None: ...

    def get_property_names(self, *, is_allprop: bool) -> list[str]:
        found: list[str] = super().get_property_names(is_allprop=is_allprop)  # type: ignore[misc]
        if self.known_names is not None:
            found += self.known_names
        elif self.entry_id is not None:
            entry_id = self.entry_id
            found += self.context.run(lambda session, _member: names(session, entry_id))
        return found

    def get_property_value(self, name: str) -> Any:
        if name.startswith("{DAV:}"):
            return super().get_property_value(name)  # type: ignore[misc]
        from wsgidav import xml_tools
        from wsgidav.dav_error import HTTP_NOT_FOUND, DAVError

        entry_id = self.entry_id
        data = None
        if entry_id is not None:
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
        entry_id = self.entry_id
        if entry_id is None:
            raise DAVError(HTTP_FORBIDDEN)
        if element is None:
            if not dry_run:
                self.context.run(lambda session, _member: remove(session, entry_id, name))
            return None
        data = xml_tools.xml_to_bytes(element, pretty=False)

        def work(session: Session, member: Member) -> None:
            if dry_run:
                check_room(session, member, entry_id, name, data)
            else:
                put(session, member, entry_id, name, data)

        self.context.run(work)
        return None

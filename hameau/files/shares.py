"""Sharing: an entry of one's private space shown, read-only, to another member or to the
whole household (under `shared` in the pages and in WebDAV).

Who may then read an entry is `service.can_read`; writing stays the owner's alone.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.errors import BadRequest, Forbidden, NotFound
from hameau.files.models import FileEntry, FileShare


def shared_with(session: Session, member: Member) -> list[FileEntry]:
    """Entries of other members' spaces shared with this member (or the household)."""
    query = (
        select(FileEntry)
        .join(FileShare, FileShare.entry_id == FileEntry.id)
        .where(
            FileEntry.deleted_at.is_(None),
            FileEntry.owner_id != member.id,
            (FileShare.member_id == member.id) | FileShare.member_id.is_(None),
        )
        .order_by(func.lower(FileEntry.name))
    )
    return list(session.scalars(query).unique())


def share(session: Session, member: Member, entry: FileEntry, with_member: Member | None) -> None:
    """Share an entry of one's private space, read-only, with a member or the household."""
    if entry.owner_id != member.id:
        raise Forbidden("Only what is in your own files can be shared by you.")
    if with_member is not None and with_member.id == member.id:
        raise BadRequest("This is already yours.")
    target = None if with_member is None else with_member.id
    exists = session.scalar(
        select(FileShare.id).where(
            FileShare.entry_id == entry.id,
            FileShare.member_id.is_(None) if target is None else FileShare.member_id == target,
        )
    )
    if exists is None:
        session.add(FileShare(entry_id=entry.id, member_id=target))


def shares_of(session: Session, entry: FileEntry) -> list[FileShare]:
    return list(session.scalars(select(FileShare).where(FileShare.entry_id == entry.id)))


def unshare(session: Session, member: Member, share_id: int) -> None:
    found = session.get(FileShare, share_id)
    entry = session.get(FileEntry, found.entry_id) if found else None
    if found is None or entry is None or entry.owner_id != member.id:
        raise NotFound("No such share.")
    session.delete(found)

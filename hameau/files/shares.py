"""Sharing: an entry of one's private space shown, read-only, to another member or to the
whole household (under `shared` in the pages and in WebDAV).

Who may then read an entry is `service.can_read`; writing stays the owner's alone.
"""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.errors import BadRequest, Forbidden, NotFound
from hameau.files.models import FileEntry, FileShare


def _shared_query(member: Member, moved: bool) -> Select[FileEntry, Member]:
    owner_moved = Member.moved_to.is_not(None) if moved else Member.moved_to.is_(None)
    return (
        select(FileEntry, Member)
        .join(FileShare, FileShare.entry_id == FileEntry.id)
        .join(Member, Member.id == FileEntry.owner_id)
        .where(
            FileEntry.deleted_at.is_(None),
            FileEntry.owner_id != member.id,
            (FileShare.member_id == member.id) | FileShare.member_id.is_(None),
            owner_moved,
        )
        .order_by(func.lower(FileEntry.name))
    )


def shared_with(session: Session, member: Member) -> list[FileEntry]:
    """Entries of other members' spaces shared with this member (or the household); not
    those of members who moved to another home (their things live there now)."""
    return list(dict.fromkeys(entry for entry, _ in session.execute(_shared_query(member, False))))


def moved_away(session: Session, member: Member) -> list[tuple[FileEntry, Member]]:
    """What was shared with this member by members who moved to another home since, with
    its owner (whose `moved_to` says where it lives now): said in words, not listed."""
    found = session.execute(_shared_query(member, True))
    return list(dict.fromkeys((entry, owner) for entry, owner in found))


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

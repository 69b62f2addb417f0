"""Quota: the bytes counted against a member (their files, earlier versions, trash and
WebDAV properties) and the room left to them; every door checks a write against it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.errors import InsufficientStorage
from hameau.files.models import DavProperty, FileEntry, FileVersion


def usage(session: Session, member_id: int) -> int:
    """Bytes counted against a member: their files, earlier versions and trash."""
    files = session.scalar(
        select(func.coalesce(func.sum(FileEntry.size), 0)).where(FileEntry.charged_to == member_id)
    )
    versions = session.scalar(
        select(func.coalesce(func.sum(FileVersion.size), 0)).where(
            FileVersion.charged_to == member_id
        )
    )
    properties = session.scalar(  # WebDAV dead properties they set
        select(func.coalesce(func.sum(DavProperty.size), 0)).where(
            DavProperty.charged_to == member_id
        )
    )
    return int(files or 0) + int(versions or 0) + int(properties or 0)


def room_left(session: Session, member: Member) -> int:
    return max(0, member.quota_bytes - usage(session, member.id))


def over_quota() -> InsufficientStorage:
    return InsufficientStorage(
        "Not enough room in your quota for this file; free some space or ask an admin for more."
    )

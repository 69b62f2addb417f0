"""The files part's import in replace mode (moving home's way back, docs/moving.md): the
member's files here become exactly what the archive holds, not a union of both.

Before the archive's entries come in, what the member holds here and the archive does not
goes for good: a live file or folder it does not list (a file deleted at the other home
comes back as that home's trash item), a trash item it does not list (emptied there), and
every share and WebDAV property of the member's entries (the archive's are made again). The
content these rows referred to is released only at the end (`purge.release`), once the
archive's rows are written: content held already is never sent or stored again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.files import journal, purge, walk
from hameau.files import service as files
from hameau.files.models import DavProperty, FileEntry, FileShare
from hameau.files.retention import versions
from hameau.search import index


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _unlisted_live(session: Session, member: Member, data: dict[str, Any]) -> list[FileEntry]:
    """The topmost live entries the archive does not hold as they are (or not at all)."""
    folders = set(data.get("folders", []))
    recorded = {record["path"] for record in data.get("files", [])}
    gone: list[FileEntry] = []
    gone_paths: list[str] = []
    for path, entry in walk.tree(session, files.root(session, files.space(member, "mine"))):
        if any(path.startswith(f"{above}/") for above in gone_paths):
            continue  # inside a folder that goes already
        if (path in folders) if entry.is_dir else (path in recorded):
            continue
        for below, item in files.files_below(session, entry):
            journal.deleted(session, member.id, below)  # satellites learn the deletion
            index.remove(session, "file", item.id)
        gone.append(entry)
        gone_paths.append(path)
    return gone


def _unlisted_trash(session: Session, member: Member, data: dict[str, Any]) -> list[FileEntry]:
    listed = {(item["from"], _when(item.get("deleted_at"))) for item in data.get("trash", [])}
    return [
        entry
        for entry in files.trashed(session, member)
        if entry.owner_id == member.id and (entry.deleted_from, entry.deleted_at) not in listed
    ]


def clear(session: Session, member: Member, data: dict[str, Any]) -> set[str]:
    """Remove what the archive does not hold; returns the content those rows referred to."""
    owned = select(FileEntry.id).where(FileEntry.owner_id == member.id)
    session.execute(delete(FileShare).where(FileShare.entry_id.in_(owned)))
    session.execute(delete(DavProperty).where(DavProperty.entry_id.in_(owned)))
    gone = _unlisted_live(session, member, data) + _unlisted_trash(session, member, data)
    return purge.drop_entries(session, [entry.id for entry in gone])


def as_recorded(session: Session, entry: FileEntry, record: dict[str, Any]) -> set[str]:
    """A file here set as the archive records it: content, revision, dates and exactly its
    versions; returns the content it no longer refers to."""
    released: set[str] = set()
    if entry.blob != record["sha256"]:
        released.add(entry.blob or "")
        entry.blob, entry.size = record["sha256"], record["size"]
        entry.content_type = record.get("content_type") or entry.content_type
        journal.wrote(session, entry.owner_id, record["path"], entry.blob, entry.size)
    entry.revision = int(record.get("revision", entry.revision))
    entry.modified_at = _when(record.get("modified_at")) or entry.modified_at
    entry.charged_to = entry.owner_id
    wanted = {(v["revision"], v["sha256"]) for v in record.get("versions", [])}
    for version in versions(session, entry):
        if (version.revision, version.blob) not in wanted:
            released.add(version.blob)
            session.delete(version)
    session.flush()
    return released - {""}

"""Retention: how long the past is kept. Each file keeps its 10 latest earlier versions;
what is trashed stays 30 days; content no row refers to any more is set aside at start
(moved to the quarantine, never deleted here).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hameau.files.models import FileEntry, FileVersion
from hameau.node.blobs import BlobStore
from hameau.node.db import utcnow

TRASH_DAYS = 30
VERSIONS_KEPT = 10


def versions(session: Session, entry: FileEntry) -> list[FileVersion]:
    return list(
        session.scalars(
            select(FileVersion)
            .where(FileVersion.entry_id == entry.id)
            .order_by(FileVersion.revision.desc())
        )
    )


def prune_versions(session: Session, entry: FileEntry) -> None:
    kept = list(
        session.scalars(
            select(FileVersion.id)
            .where(FileVersion.entry_id == entry.id)
            .order_by(FileVersion.revision.desc())
            .offset(VERSIONS_KEPT)
        )
    )
    for version_id in kept:
        session.delete(session.get(FileVersion, version_id))


def purge_expired(session: Session) -> None:
    """Forget what was trashed more than 30 days ago (done when the trash is touched, no timer).

    Blobs no one refers to any more go to the quarantine by `collect_garbage`, at start."""
    cutoff = utcnow() - timedelta(days=TRASH_DAYS)
    # In bulk: the database's cascade takes what was inside a trashed folder along.
    session.execute(
        delete(FileEntry)
        .where(FileEntry.deleted_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()


def referenced_blobs(session: Session) -> set[str]:
    current = session.scalars(select(FileEntry.blob).where(FileEntry.blob.is_not(None)))
    older = session.scalars(select(FileVersion.blob))
    return {digest for digest in current if digest} | set(older)


def collect_garbage(session: Session, store: BlobStore) -> int:
    """Move blobs nothing refers to into the quarantine (kept 30 days, never deleted here:
    rows lost to a damaged database must not take their content along); run at start,
    before any write can race it."""
    keep = referenced_blobs(session)
    moved = 0
    for digest in store.stored():
        if digest not in keep and store.quarantine(digest, "unreferenced") is not None:
            moved += 1
    return moved

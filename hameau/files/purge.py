"""Deleting for good, so a full node can be recovered from inside the product.

A member empties their trash or deletes one item of it for good; an admin empties a
member's trash (or the household's) or drops a member's earlier versions. The rows go, and
the content no row refers to any more leaves the disk at once, no restart needed.

Why removing content is safe while uploads go on: an upload writes its content first, then
records it (`service.plan_write`, the blob, `service.record_write`). Only content the purge
itself released is considered, and only after the purge's deletes, so the purge holds the
database's write lock: an upload that recorded the same content before is seen and the
content kept; one that records it later finds it gone (`record_write` checks, under the
same lock) and is asked to send it again, instead of pointing at nothing. Content is moved
aside first and removed only once the purge is committed (put back if it rolls back).

A purge whose process dies (SIGKILL, power cut) before its transaction ends leaves its
content aside while its rows, rolled back, refer to it again: put back by the next start
of a process (`put_back_cut_short`) and by the node's jobs that run once (the weekly check,
the end of rollback windows). On PostgreSQL other processes go on serving meanwhile, so a
purge holds a shared advisory lock for its transaction, and content is put back only when
no purge of any process is in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event, func, select, text
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.errors import NotFound
from hameau.files.models import FileEntry, FileVersion
from hameau.files.retention import TRASH_DAYS
from hameau.node import once, reserve
from hameau.node.blobs import BlobStore
from hameau.node.db import utcnow

_MOVED = "hameau.purged"
_RESERVE = "hameau.reserve"
CHUNK = 500  # ids per IN (...): well under any database's limit on bound parameters


def _chunks(items: Iterable[Any]) -> Iterator[list[Any]]:
    batch = list(items)
    for start in range(0, len(batch), CHUNK):
        yield batch[start : start + CHUNK]


def _subtrees(session: Session, roots: list[int]) -> list[int]:
    """The roots and everything below them."""
    found: list[int] = []
    query = text(
        "WITH RECURSIVE tree(id) AS (SELECT id FROM file_entries WHERE id IN :roots"
        " UNION SELECT f.id FROM file_entries f JOIN tree t ON f.parent_id = t.id)"
        " SELECT id FROM tree"
    ).bindparams(bindparam("roots", expanding=True))
    for batch in _chunks(roots):
        found += [row[0] for row in session.execute(query, {"roots": batch})]
    return found


def _blobs_of(session: Session, ids: list[int]) -> set[str]:
    digests: set[str] = set()
    for batch in _chunks(ids):
        digests.update(
            d for d in session.scalars(select(FileEntry.blob).where(FileEntry.id.in_(batch))) if d
        )
        digests.update(
            session.scalars(select(FileVersion.blob).where(FileVersion.entry_id.in_(batch)))
        )
    return digests


def _still_referenced(session: Session, digests: set[str]) -> set[str]:
    kept: set[str] = set()
    for batch in _chunks(digests):
        kept.update(
            d for d in session.scalars(select(FileEntry.blob).where(FileEntry.blob.in_(batch))) if d
        )
        kept.update(session.scalars(select(FileVersion.blob).where(FileVersion.blob.in_(batch))))
    return kept


def _after_commit(session: Session) -> None:
    for store, digest in session.info.pop(_MOVED, []):
        store.drop_aside(digest)
    folder = session.info.pop(_RESERVE, None)
    if folder is not None:
        reserve.keep(folder)  # taken again if the purge made room enough


def _database_folder(session: Session) -> Path | None:
    bind = session.get_bind()
    url = (bind.engine if isinstance(bind, Connection) else bind).url
    if url.get_backend_name() != "sqlite":  # a PostgreSQL server's disk is not this one
        return None
    database = url.database
    return Path(database).parent if database and database != ":memory:" else None


def _make_room(session: Session) -> None:
    """Before deleting: on a nearly full disk, give back the reserve kept next to the
    database, so it can record the deletion (its log grows even to delete)."""
    folder = _database_folder(session)
    if folder is not None and reserve.release_if_low(folder):
        session.info[_RESERVE] = folder
        _hook(session)


def _after_rollback(session: Session) -> None:
    for store, digest in session.info.pop(_MOVED, []):
        store.put_back(digest)
    folder = session.info.pop(_RESERVE, None)
    if folder is not None:
        reserve.keep(folder)


def _hook(session: Session) -> None:
    """Finish the purge's work on disk when its transaction ends, either way."""
    if not session.info.get("hameau.purge_hooks"):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
        session.info["hameau.purge_hooks"] = True


def _release(session: Session, store: BlobStore, digests: set[str]) -> int:
    """Move aside the content of ``digests`` no row refers to any more; call after the
    purge's deletes (the write lock held). Returns the bytes that will come back."""
    if not digests:
        return 0
    session.flush()
    freed = 0
    moved: list[tuple[BlobStore, str]] = session.info.setdefault(_MOVED, [])
    _hook(session)
    if session.get_bind().dialect.name == "postgresql":  # in flight until the transaction ends
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": once.key(PURGING)})
    for digest in sorted(digests - _still_referenced(session, digests)):
        size = store.set_aside(digest)
        if size is None:
            continue
        moved.append((store, digest))
        freed += size
    return freed


PURGING = "purging"  # the advisory lock of purges in flight (shared) and of putting back


def put_back_cut_short(node: Any) -> int:
    """Content that purges cut short (their process killed) left aside, put back; how many.
    On SQLite one process serves, and its start puts it back (`BlobStore.clear_temp`)."""
    if node.layout.on_sqlite:
        return 0
    return once.if_free(node, PURGING, node.blobs.put_back_cut_short) or 0


def _purge_entries(session: Session, store: BlobStore, roots: list[int]) -> int:
    """Delete entries (folders with all they hold, and their versions) for good."""
    if not roots:
        return 0
    _make_room(session)
    return _release(session, store, drop_entries(session, roots))


def drop_entries(session: Session, roots: list[int]) -> set[str]:
    """Delete entries for good (folders with all they hold) but keep their content for now:
    returns its hashes, for `release` once the rows that may refer to it again are written
    (an import that replaces a member's files brings some of it back)."""
    if not roots:
        return set()
    digests = _blobs_of(session, _subtrees(session, roots))
    for batch in _chunks(roots):
        # The database's cascade takes the content of folders, versions and shares along.
        session.execute(
            delete(FileEntry)
            .where(FileEntry.id.in_(batch))
            .execution_options(synchronize_session=False)
        )
    session.expire_all()
    return digests


def release(session: Session, store: BlobStore, digests: set[str]) -> int:
    """The content of ``digests`` no row refers to any more leaves the disk at commit."""
    return _release(session, store, digests)


def _trashed_ids(session: Session, owner_id: int | None) -> list[int]:
    owner = FileEntry.owner_id.is_(None) if owner_id is None else FileEntry.owner_id == owner_id
    return list(
        session.scalars(select(FileEntry.id).where(FileEntry.deleted_at.is_not(None), owner))
    )


def expire(session: Session, store: BlobStore) -> int:
    """What was trashed more than `retention.TRASH_DAYS` ago, gone for good with its content
    (the trash's own sweep, `retention.purge_expired`, leaves the content to the next start)."""
    cutoff = utcnow() - timedelta(days=TRASH_DAYS)
    query = select(FileEntry.id).where(FileEntry.deleted_at < cutoff)
    return _purge_entries(session, store, list(session.scalars(query)))


def delete_for_good(session: Session, member: Member, entry_id: int, store: BlobStore) -> int:
    """One item of the member's trash (theirs or the household's), gone for good."""
    entry = session.get(FileEntry, entry_id)
    if entry is None or entry.deleted_at is None or entry.owner_id not in (None, member.id):
        raise NotFound("This item is not in your trash.")
    return _purge_entries(session, store, [entry.id])


def empty_trash(session: Session, member: Member, store: BlobStore) -> int:
    """Everything the member deleted from their own files, gone for good (the household's
    trash is left to its members, one item at a time, or to an admin)."""
    return _purge_entries(session, store, _trashed_ids(session, member.id))


def purge_trash(session: Session, owner_id: int | None, store: BlobStore) -> int:
    """For admins: a member's trash (``owner_id``), or the household's (None)."""
    return _purge_entries(session, store, _trashed_ids(session, owner_id))


def purge_owner(session: Session, member_id: int, store: BlobStore) -> int:
    """Every entry of a member's own space, trashed or not, gone for good with the content no
    one else refers to (the copy a member who moved away left, at its window's end)."""
    roots = session.scalars(select(FileEntry.id).where(FileEntry.owner_id == member_id))
    return _purge_entries(session, store, list(roots))


def purge_versions(session: Session, member_id: int, store: BlobStore) -> int:
    """For admins: the earlier versions a member's writes left, gone for good."""
    query = select(FileVersion.id, FileVersion.blob).where(FileVersion.charged_to == member_id)
    rows = list(session.execute(query))
    if rows:
        _make_room(session)
    for batch in _chunks([row[0] for row in rows]):
        session.execute(
            delete(FileVersion)
            .where(FileVersion.id.in_(batch))
            .execution_options(synchronize_session=False)
        )
    freed = _release(session, store, {row[1] for row in rows})
    session.expire_all()
    return freed


@dataclass
class Usage:
    files: int = 0
    versions: int = 0
    trash: int = 0  # trashed files and their versions

    @property
    def total(self) -> int:
        return self.files + self.versions + self.trash


def space_used(session: Session) -> dict[int, Usage]:
    """Bytes charged to each member, split into files, earlier versions and trash."""
    used: dict[int, Usage] = {}
    gone = (
        "WITH RECURSIVE gone(id) AS (SELECT id FROM file_entries WHERE deleted_at IS NOT NULL"
        " UNION SELECT f.id FROM file_entries f JOIN gone g ON f.parent_id = g.id) "
    )
    queries = {
        "files": "SELECT charged_to, SUM(size) FROM file_entries WHERE id NOT IN "
        "(SELECT id FROM gone) GROUP BY charged_to",
        "versions": "SELECT charged_to, SUM(size) FROM file_versions WHERE entry_id NOT IN "
        "(SELECT id FROM gone) GROUP BY charged_to",
        "trash": "SELECT charged_to, SUM(size) FROM (SELECT charged_to, size FROM file_entries"
        " WHERE id IN (SELECT id FROM gone) UNION ALL SELECT charged_to, size FROM"
        " file_versions WHERE entry_id IN (SELECT id FROM gone)) AS t GROUP BY charged_to",
    }
    for part, query in queries.items():
        for member_id, total in session.execute(text(gone + query)):
            if member_id is not None:
                usage = used.setdefault(member_id, Usage())
                setattr(usage, part, int(total or 0))
    return used


def household_trash(session: Session) -> int:
    """Bytes in the household's trash (its trashed files, and their versions)."""
    roots = _trashed_ids(session, None)
    ids = _subtrees(session, roots)
    total = 0
    for batch in _chunks(ids):
        total += int(
            session.scalar(
                select(func.coalesce(func.sum(FileEntry.size), 0)).where(FileEntry.id.in_(batch))
            )
            or 0
        )
        total += int(
            session.scalar(
                select(func.coalesce(func.sum(FileVersion.size), 0)).where(
                    FileVersion.entry_id.in_(batch)
                )
            )
            or 0
        )
    return total

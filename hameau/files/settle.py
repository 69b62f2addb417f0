"""Setting a path of a file space to a state reached by sync, on either side, and the
guard that refuses to sync a content store that is not there (an unmounted disk).

The content is already in the blob store (written to a temp file, hashed, fsynced and
renamed by the transfer); this records it the way every other door does (a replaced file
keeps its previous content as a version, a deleted one goes to the trash), then sets the
journal to the reconciled vector. The caller runs it in one transaction per batch, so a
path is either fully applied or not at all.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.errors import BadRequest, Conflict, HameauError, InsufficientStorage
from hameau.files import journal, paths, quota, tables
from hameau.files import service as files
from hameau.files.merge import FileState
from hameau.files.models import FileEntry, FileVersion
from hameau.files.retention import VERSIONS_KEPT
from hameau.files.tables import StoreNotMounted
from hameau.node.blobs import BlobStore
from hameau.node.db import utcnow
from hameau.node.reading import execute
from hameau.search import index


def size_words(size: int) -> str:
    """A size as people say it: 512 bytes, 8 kB, 8.4 MB, 12 MB, 1.2 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} bytes"


def no_room(needed: int, left: int) -> InsufficientStorage:
    return InsufficientStorage(
        "Not enough room in your quota at home: %(needed)s needed, %(left)s left.",
        needed=size_words(needed),
        left=size_words(left),
    )


def quota_words(needed: int, left: int) -> str:
    return str(no_room(needed, left))


def store_problem(session: Session, store: BlobStore) -> StoreNotMounted | None:
    """Why sync must not run with this content store, if it must not (files/tables.py)."""
    return tables.store_problem(session.connection(), store)


def check_marker(session: Session, store: BlobStore) -> None:
    """Refuse to sync with a content store that is not there (see `store_problem`); the
    marker is written the first time the store is evidently the right one."""
    problem = store_problem(session, store)
    if problem is not None:
        raise problem
    if not store.has_marker():
        store.write_marker()


def _folder(
    session: Session, member: Member, where: files.Space, parts: list[str], known: Folders
) -> FileEntry:
    """The folder at ``parts``, made (with its parents) if missing; remembered in ``known``."""
    key = (where.owner_id, "/".join(parts))
    found = known.get(key)
    if found is not None:
        return found
    if not parts:
        folder = files.root(session, where)
    else:
        parent = _folder(session, member, where, parts[:-1], known)
        folder = files.child(session, parent, parts[-1])  # type: ignore[assignment]
        if folder is None:
            folder = files.make_folder(session, member, where, parts)
        elif not folder.is_dir:
            raise Conflict("'%(name)s' is a file, not a folder.", name=parts[-1])
    known[key] = folder
    return folder


Folders = dict[tuple[int | None, str], FileEntry]


def _known_folders(session: Session, where: files.Space, folders: set[str], known: Folders) -> None:
    """Find these folders (and their parents) that exist, a query per depth rather than one
    per folder, into ``known``; `_folder` then makes those missing."""
    wanted = {"/".join(parts[:depth]) for f in folders for parts in [f.split("/")]
              for depth in range(1, len(parts) + 1) if f}  # fmt: skip
    if (where.owner_id, "") not in known:
        known[(where.owner_id, "")] = files.root(session, where)
    for depth in range(1, max((p.count("/") + 2 for p in wanted), default=1)):
        level: dict[tuple[int, str], str] = {}
        for path in wanted:
            parent, _, name = path.rpartition("/")
            above = known.get((where.owner_id, parent))
            if (
                path.count("/") == depth - 1
                and above is not None
                and (where.owner_id, path) not in known
            ):
                level[(above.id, name)] = path
        for entry in _entries(session, list(level)):
            if entry.is_dir:
                known[(where.owner_id, level[(entry.parent_id, entry.name)])] = entry  # type: ignore[index]


def put(
    session: Session,
    member: Member,
    where: files.Space,
    path: str,
    state: FileState,
    size: int,
    store: BlobStore,
    check_quota: bool = True,
    known: Folders | None = None,
) -> None:
    """Make ``path`` hold ``state`` (content or deletion) and record its reconciled vector.

    ``known`` caches folders across the paths of one transaction (pass the same dict, and
    empty it if a path fails: what that path made is rolled back with it)."""
    known = {} if known is None else known
    parts = paths.split(path)
    if not parts:
        raise BadRequest("A space's root is not a file.")
    path = "/".join(parts)  # as every door records it (names in NFC)
    if state.blob is None:
        try:
            entry = files.resolve(session, where, parts)
        except HameauError:
            entry = None
        if entry is not None and not entry.is_dir:
            files.trash(session, member, entry, synced=state.vector)
        else:
            journal.adopt(session, where.owner_id, path, state.vector, None, 0)
        return
    if not store.exists(state.blob):
        raise Conflict("The content of '%(path)s' has not arrived yet.", path=path)
    folder = _folder(session, member, where, parts[:-1], known)
    current = files.child(session, folder, parts[-1])
    if current is not None and current.is_dir:  # a folder replaced by a file
        if files.files_below(session, current):
            raise Conflict("A folder named '%(name)s' is already there.", name=parts[-1])
        files.trash(session, member, current)  # empty: its files were deleted first
        for key in [key for key in known if key[1] == path or key[1].startswith(path + "/")]:
            del known[key]
        current = None
    grows = current is None or current.blob != state.blob
    if check_quota and grows and size > (left := quota.room_left(session, member)):
        raise no_room(size, left)
    plan = files.WritePlan(where, folder.id, parts[-1], 0)
    files.record_write(
        session, plan, member, state.blob, size, "", store, synced=(path, state.vector)
    )


def put_new(
    session: Session,
    member: Member,
    where: files.Space,
    items: list[tuple[str, FileState, int]],
    store: BlobStore,
    known: Folders,
) -> None:
    """Record many files at paths this side has never had (no file, nothing in the journal):
    their rows in bulk, as an initial pack brings thousands. Raises IntegrityError if one of
    the paths was taken after all; the caller then takes them one by one with `put`."""
    now = utcnow()
    rows: list[dict[str, object]] = []
    entries: list[tuple[str, FileState, int]] = []
    texts: list[tuple[int, str, str, int, str]] = []
    for path, state, size in items:
        parts = paths.split(path)
        if not parts or state.blob is None or not store.exists(state.blob):
            raise Conflict("The content of '%(path)s' has not arrived yet.", path=path)
        folder = _folder(session, member, where, parts[:-1], known)
        kind = mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
        rows.append({
            "owner_id": where.owner_id, "parent_id": folder.id, "name": parts[-1],
            "is_dir": False, "blob": state.blob, "size": size, "content_type": kind,
            "revision": 1, "charged_to": member.id, "created_at": now, "modified_at": now,
        })  # fmt: skip
        entries.append(("/".join(parts), state, size))
        if index.is_text(parts[-1], kind, size):
            texts.append((folder.id, parts[-1], state.blob, size, kind))
    if not rows:
        return
    session.execute(insert(FileEntry), rows)
    journal.adopt_many(session, where.owner_id, entries)
    for parent_id, name, digest, _size, _kind in texts:
        entry_id = session.scalar(
            select(FileEntry.id).where(
                FileEntry.parent_id == parent_id,
                FileEntry.name == name,
                FileEntry.deleted_at.is_(None),
            )
        )
        if entry_id is not None:
            body = store.read(digest).decode("utf-8", "replace")
            index.put(session, "file", entry_id, where.owner_id, name, body)


def replace_many(
    session: Session,
    member: Member,
    where: files.Space,
    items: list[tuple[str, FileState, int]],
    journaled: Mapping[str, journal.Known],
    store: BlobStore,
    known: Folders,
) -> list[str]:
    """New content for many files this side holds, as `files.record_write` would set it one
    by one (the previous content kept as a version, the journal set to the reconciled
    vector), in a few statements: a re-sync brings hundreds. Returns the paths done; those
    that are not a plain file's new content (a folder in the way, text to index, a path
    the journal does not know) are left to `put`."""
    wanted: dict[tuple[int, str], tuple[str, FileState, int]] = {}
    parents = {"/".join(paths.split(path)[:-1]) for path, _state, _size in items}
    _known_folders(session, where, parents, known)
    for path, state, size in items:
        parts = paths.split(path)
        if not parts or state.blob is None or "/".join(parts) not in journaled:
            continue
        folder = _folder(session, member, where, parts[:-1], known)
        wanted[(folder.id, parts[-1])] = ("/".join(parts), state, size)
    found = _files_at(session, list(wanted))
    now, done, versions, changes, adopted = utcnow(), [], [], [], []
    for entry in found:
        path, state, size = wanted[(entry.parent_id, entry.name)]
        kind = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
        digest = state.blob or ""
        if index.is_text(entry.name, kind, size):
            continue
        replaced = entry.blob != digest
        if entry.blob is not None and replaced:
            versions.append({
                "entry_id": entry.id, "revision": entry.revision, "blob": entry.blob,
                "size": entry.size, "charged_to": entry.charged_to, "created_at": entry.modified_at,
            })  # fmt: skip
        changes.append({
            "b_id": entry.id, "b_blob": digest, "b_size": size if replaced else entry.size,
            "b_type": kind if replaced else entry.content_type, "b_modified": now,
            "b_revision": entry.revision + 1 if replaced else entry.revision,
            "b_charged": member.id if replaced else entry.charged_to,
        })  # fmt: skip
        adopted.append((journaled[path], state, size))
        done.append(path)
    if versions:
        session.execute(_ADD_VERSION, versions)
    if changes:
        session.execute(_SET_FILE, changes)
    journal.readopt_many(session, adopted)
    # Under the write lock, should a purge have come between (as `record_write` checks); a
    # content missing sends the whole batch back, to be taken (or refused) one by one.
    if any(not store.exists(state.blob or "") for _entry, state, _size in adopted):
        raise Conflict("This content was deleted for good while it was saved; send it again.")
    _prune(session, [entry.id for entry in found])
    return done


_FILES = cast(Table, FileEntry.__table__)
_ADD_VERSION = insert(cast(Table, FileVersion.__table__))
_SET_FILE = (  # a file's new content, by statement (no ORM unit of work for hundreds of rows)
    update(_FILES)
    .where(_FILES.c.id == bindparam("b_id"))
    .values(
        blob=bindparam("b_blob"), size=bindparam("b_size"), content_type=bindparam("b_type"),
        revision=bindparam("b_revision"), charged_to=bindparam("b_charged"),
        modified_at=bindparam("b_modified"),
    )
)  # fmt: skip


def _files_at(session: Session, keys: list[tuple[int, str]]) -> list[Row[Any]]:
    """The live files (not folders) at these (folder id, name) places, as rows: what a new
    content changes of each (their ORM objects in the session, if any, are expired)."""
    session.flush()  # as a query through the session would (the raw one does not)
    ids: list[int] = []
    for start in range(0, len(keys), 400):
        ids += _ids_at(session, keys[start : start + 400])
    ids.sort()  # rows are locked in one order by every batch
    found: list[Row[Any]] = []
    columns = [_FILES.c[name] for name in _FILE_COLUMNS]
    for start in range(0, len(ids), 400):
        chunk = ids[start : start + 400]
        # Locked (PostgreSQL; SQLite's write lock is held already), in one order: the content
        # each replaces is kept as a version, so it must be the one there now.
        query = select(*columns).where(_FILES.c.id.in_(chunk), ~_FILES.c.is_dir)
        found += session.execute(query.order_by(_FILES.c.id).with_for_update())
        for entry_id in chunk:
            loaded = session.identity_map.get(session.identity_key(FileEntry, entry_id))
            if loaded is not None:
                session.expire(loaded)
    return found


_FILE_COLUMNS = ("id", "parent_id", "name", "blob", "size", "content_type", "revision",
                 "charged_to", "modified_at")  # fmt: skip


def _ids_at(session: Session, chunk: list[tuple[int, str]]) -> list[int]:
    """The ids of the live entries at these places (a few hundred at most), in one query.

    The places as a VALUES table joined on the live names' index (a row-value IN made
    SQLite read every live entry), in plain SQL: SQLAlchemy compiles a VALUES of many rows
    anew at each call, which cost more than the query."""
    places = ", ".join("(?, ?)" for _ in chunk)
    return [
        row[0] for row in execute(
            session.connection(),
            f"WITH places(parent, name) AS (VALUES {places}) SELECT f.id FROM places"  # noqa: S608
            " JOIN file_entries AS f ON f.parent_id = places.parent AND f.name = places.name"
            " WHERE f.deleted_at IS NULL",
            tuple(value for key in chunk for value in key),
        )
    ]  # fmt: skip


def _entries(session: Session, keys: list[tuple[int, str]]) -> list[FileEntry]:
    """The live entries at these (folder id, name) places, many a query."""
    found: list[FileEntry] = []
    session.flush()  # as a query through the session would (the raw one below does not)
    for start in range(0, len(keys), 400):
        ids = _ids_at(session, keys[start : start + 400])
        found += session.scalars(select(FileEntry).where(FileEntry.id.in_(ids)))
    return found


def _prune(session: Session, entry_ids: list[int]) -> None:
    """Only the last versions of these files are kept (`retention.prune_versions`, at once)."""
    for start in range(0, len(entry_ids), 400):
        ranked = (
            select(
                FileVersion.id,
                func.row_number()
                .over(partition_by=FileVersion.entry_id, order_by=FileVersion.revision.desc())
                .label("rank"),
            )
            .where(FileVersion.entry_id.in_(entry_ids[start : start + 400]))
            .subquery()
        )
        old = select(ranked.c.id).where(ranked.c.rank > VERSIONS_KEPT)
        session.execute(
            delete(FileVersion)
            .where(FileVersion.id.in_(old))
            .execution_options(synchronize_session=False)
        )

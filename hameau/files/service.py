"""The file store's logic, shared by every door (pages, JSON API, WebDAV, export).

Spaces: each member's private space ("mine") and the household's ("household"). A write
streams into the blob store first; only a complete, hashed, fsynced blob is recorded. An
overwrite keeps the previous content as a version; a delete moves to the trash for 30 days.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed
from hameau.files import journal, paths, rows
from hameau.files.models import FileEntry, FileShare, FileVersion
from hameau.files.quota import over_quota, room_left
from hameau.files.retention import prune_versions, purge_expired
from hameau.node.blobs import BlobStore
from hameau.node.db import utcnow, write_lock
from hameau.search import index

SPACES = ("mine", "household")


@dataclass(frozen=True)
class Space:
    key: str
    owner_id: int | None  # None: the household's space


def space(member: Member, key: str) -> Space:
    if key == "mine":
        return Space(key, member.id)
    if key == "household":
        return Space(key, None)
    raise NotFound("There is no file space called '%(key)s'.", key=key)


def root(session: Session, where: Space) -> FileEntry:
    """The space's root folder, made the first time it is needed."""
    if where.owner_id is None:
        found = session.scalar(rows.HOUSEHOLD_ROOT)
    else:
        found = session.scalar(rows.MEMBER_ROOT, {"owner": where.owner_id})
    if found is None:
        found = FileEntry(owner_id=where.owner_id, parent_id=None, name="", is_dir=True)
        session.add(found)
        session.flush()
    return found


def child(session: Session, folder: FileEntry, name: str) -> FileEntry | None:
    return session.scalar(rows.CHILD, {"parent": folder.id, "name": name})


def resolve(session: Session, where: Space, parts: list[str]) -> FileEntry:
    entry = root(session, where)
    for name in parts:
        if not entry.is_dir:
            raise NotFound("No file or folder at this path.")
        found = child(session, entry, name)
        if found is None:
            raise NotFound("No file or folder at this path.")
        entry = found
    return entry


def children(session: Session, folder: FileEntry) -> list[FileEntry]:
    return list(
        session.scalars(
            select(FileEntry)
            .where(FileEntry.parent_id == folder.id, FileEntry.deleted_at.is_(None))
            .order_by(FileEntry.is_dir.desc(), func.lower(FileEntry.name))
        )
    )


def ancestors(session: Session, entry: FileEntry) -> list[FileEntry]:
    """From the space root down to the entry's parent."""
    chain: list[FileEntry] = []
    current = entry
    while current.parent_id is not None:
        parent = session.get(FileEntry, current.parent_id)
        assert parent is not None
        chain.append(parent)
        current = parent
    return list(reversed(chain))


def path_of(session: Session, entry: FileEntry) -> str:
    names = [item.name for item in ancestors(session, entry)[1:]] + [entry.name]
    return "/".join(name for name in names if name)


# ---------------------------------------------------------------- rights


def can_read(session: Session, member: Member, entry: FileEntry) -> bool:
    if entry.owner_id is None or entry.owner_id == member.id:
        return True
    chain = [*ancestors(session, entry), entry]
    ids = [item.id for item in chain]
    shared = session.scalar(
        select(func.count(FileShare.id)).where(
            FileShare.entry_id.in_(ids),
            (FileShare.member_id == member.id) | FileShare.member_id.is_(None),
        )
    )
    return bool(shared)


def check_write(member: Member, entry: FileEntry) -> None:
    if entry.owner_id not in (None, member.id):
        raise Forbidden("This file is shared with you read-only.")


# ---------------------------------------------------------------- writes


@dataclass(frozen=True)
class WritePlan:
    """What a write will do, checked before any byte is read."""

    space: Space
    parent_id: int
    name: str
    limit: int  # bytes the member may still write
    # A conditional write (If-Match …): the content the file must still hold when this one
    # lands, as the condition was judged on it ((None,): still absent); None: unconditional.
    expect: tuple[str | None] | None = None


def plan_write(
    session: Session, member: Member, where: Space, parts: list[str], declared: int | None = None
) -> WritePlan:
    if not parts:
        raise BadRequest("Give the file a name.")
    parts = [paths.check_name(part) for part in parts]  # whoever built the path
    parent = resolve(session, where, parts[:-1])
    existing = child(session, parent, parts[-1]) if parent.is_dir else None
    return plan_in(session, member, where, parent, parts[-1], existing, declared)


def plan_in(
    session: Session,
    member: Member,
    where: Space,
    parent: FileEntry,
    name: str,
    existing: FileEntry | None,
    declared: int | None = None,
) -> WritePlan:
    """The plan of a write of the checked ``name`` into ``parent``, both found by the caller
    with what is there already (``existing``): WebDAV has them from its path's lookup."""
    if not parent.is_dir:
        raise Conflict("'%(name)s' is a file, not a folder.", name=parent.name)
    check_write(member, parent)
    if existing is not None and existing.is_dir:
        raise Conflict("A folder named '%(name)s' is already there.", name=name)
    limit = room_left(session, member)
    if declared is not None and declared > limit:
        raise over_quota()
    return WritePlan(where, parent.id, name, limit)


def record_write(
    session: Session,
    plan: WritePlan,
    member: Member,
    digest: str,
    size: int,
    content_type: str = "",
    blobs: BlobStore | None = None,
    synced: tuple[str, dict[str, int]] | None = None,
) -> FileEntry:
    """Record complete, stored content at the planned path (keeping what it replaces).

    With ``blobs``, a text file is (re)indexed for search as part of the same transaction.
    ``synced`` is (path, vector) when sync sets the path to a reconciled state: the journal
    takes that vector as it is instead of counting a new local change."""
    if blobs is not None and not blobs.exists(digest):  # a purge (files.purge) removed it
        raise Conflict("This content was deleted for good while it was saved; send it again.")
    # The folder is held here: the session keeps only weak references, and path_of then
    # finds it there instead of reading it again.
    entry, _folder = _record(session, plan, member, digest, size, content_type)
    if synced is None:
        journal.wrote(session, entry.owner_id, path_of(session, entry), digest, size)
    else:
        journal.adopt(session, entry.owner_id, synced[0], synced[1], digest, size)
    if blobs is not None:  # again under the write lock, should a purge have come between
        session.flush()
        if not blobs.exists(digest):
            raise Conflict("This content was deleted for good while it was saved; send it again.")
    if blobs is not None and index.is_text(entry.name, entry.content_type, entry.size):
        if not blobs.exists(digest):  # damaged content, copied by reference: nothing to index
            return entry
        body = blobs.read(digest).decode("utf-8", "replace")
        index.put(session, "file", entry.id, entry.owner_id, entry.name, body)
    return entry


def _record(
    session: Session, plan: WritePlan, member: Member, digest: str, size: int, content_type: str
) -> tuple[FileEntry, FileEntry]:
    """The entry written, and its folder."""
    kind = content_type or mimetypes.guess_type(plan.name)[0] or "application/octet-stream"
    kind = kind[:120]  # its column's length, which PostgreSQL holds to (SQLite does not)
    now = utcnow()
    # What the write replaces is kept as a version: read under the write lock (SQLite) or
    # its row's lock (PostgreSQL), and afresh (not as the plan found it), else another
    # write landing meanwhile would be replaced unseen, its content kept nowhere.
    write_lock(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(rows.CHILD_LOCK, {"parent": plan.parent_id, "name": plan.name})
    for _attempt in range(2):
        found = session.scalars(
            rows.FOLDER_AND_CHILD.execution_options(populate_existing=True),
            {"parent": plan.parent_id, "name": plan.name},
        )
        parent = existing = None
        for item in found:
            parent, existing = (item, existing) if item.id == plan.parent_id else (parent, item)
        if parent is None or parent.deleted_at is not None:
            raise NotFound("The folder was deleted while the file was being written.")
        if plan.expect is not None and plan.expect[0] != (existing.blob if existing else None):
            raise PreconditionFailed(
                "The file changed while this was sent; nothing was saved over it: read it"
                " again, then save."
            )
        if existing is not None:
            if existing.is_dir:
                raise Conflict("A folder named '%(name)s' is already there.", name=plan.name)
            if existing.blob == digest:
                existing.modified_at = now
                return existing, parent
            if existing.blob is not None:
                session.add(
                    FileVersion(
                        entry_id=existing.id,
                        revision=existing.revision,
                        blob=existing.blob,
                        size=existing.size,
                        charged_to=existing.charged_to,
                        created_at=existing.modified_at,
                    )
                )
            existing.blob, existing.size, existing.content_type = digest, size, kind
            existing.revision += 1
            existing.charged_to = member.id
            existing.modified_at = now
            session.flush()
            prune_versions(session, existing)
            return existing, parent
        values = {"owner_id": plan.space.owner_id, "parent_id": parent.id, "name": plan.name,
                  "is_dir": False, "blob": digest, "size": size, "content_type": kind,
                  "charged_to": member.id, "created_at": now, "modified_at": now}  # fmt: skip
        made = rows.insert_file(session, values)
        if made is not None:
            return made, parent
        # another writer created it just now: this write becomes an overwrite
    raise Conflict("This file is being written by someone else; try again.")


def make_folder(session: Session, member: Member, where: Space, parts: list[str]) -> FileEntry:
    if not parts:
        raise BadRequest("Give the folder a name.")
    parent = resolve(session, where, parts[:-1])
    if not parent.is_dir:
        raise Conflict("'%(name)s' is a file, not a folder.", name=parent.name)
    check_write(member, parent)
    if child(session, parent, parts[-1]) is not None:
        raise Conflict("Something named '%(name)s' is already there.", name=parts[-1])
    folder = FileEntry(owner_id=where.owner_id, parent_id=parent.id, name=parts[-1], is_dir=True)
    try:
        with session.begin_nested():
            session.add(folder)
    except IntegrityError:  # another client made it just now (parallel uploads do)
        raise Conflict("Something named '%(name)s' is already there.", name=parts[-1]) from None
    return folder


def files_below(session: Session, entry: FileEntry) -> list[tuple[str, FileEntry]]:
    """The files of an entry (itself, or all those under a folder), with their paths."""
    base = path_of(session, entry)
    if not entry.is_dir:
        return [(base, entry)]
    found: list[tuple[str, FileEntry]] = []
    pending = [(base, entry)]
    while pending:
        prefix, folder = pending.pop()
        for item in children(session, folder):
            path = f"{prefix}/{item.name}" if prefix else item.name
            if item.is_dir:
                pending.append((path, item))
            else:
                found.append((path, item))
    return found


def _subtree_ids(session: Session, entry: FileEntry) -> list[int]:
    rows = session.execute(
        text(
            # CAST: PostgreSQL types a bare parameter by its value (a smallint for 7).
            "WITH RECURSIVE tree(id) AS (SELECT CAST(:start AS INTEGER) UNION ALL "
            "SELECT f.id FROM file_entries f JOIN tree t ON f.parent_id = t.id) "
            "SELECT id FROM tree"
        ),
        {"start": entry.id},
    )
    return [row[0] for row in rows]


def _as_it_is_now(session: Session, *entries: FileEntry) -> None:
    """Entries read again under the write lock (`node.db.write_lock`), before a change that
    reads what it changes (the files below a folder, for the journal; a name's clash): a
    file written into a folder meanwhile is then moved or trashed with it, not left behind
    in the journal. One gone meanwhile is not there any more."""
    write_lock(session)
    session.flush()  # a refresh drops what is not flushed: the caller's own changes stay
    for entry in entries:
        session.refresh(entry)
        if entry.deleted_at is not None:
            raise NotFound("This file or folder was deleted meanwhile.")


def move(
    session: Session, member: Member, entry: FileEntry, target: FileEntry, name: str
) -> FileEntry:
    """Move and/or rename; a folder carries its content, across spaces too."""
    name = paths.check_name(name)
    _as_it_is_now(session, entry, target)
    if entry.parent_id is None:
        raise BadRequest("A space's root cannot be moved.")
    check_write(member, entry)
    check_write(member, target)
    if not target.is_dir:
        raise Conflict("'%(name)s' is a file, not a folder.", name=target.name)
    subtree = _subtree_ids(session, entry) if entry.is_dir else [entry.id]
    if target.id in subtree:
        raise Conflict("A folder cannot be moved into itself.")
    clash = child(session, target, name)
    if clash is not None and clash.id != entry.id:
        raise Conflict("Something named '%(name)s' is already there.", name=name)
    moving = [(path, item.blob, item.size) for path, item in files_below(session, entry)]
    for path, _blob, _size in moving:
        journal.deleted(session, entry.owner_id, path)
    if target.owner_id != entry.owner_id:
        session.execute(
            update(FileEntry).where(FileEntry.id.in_(subtree)).values(owner_id=target.owner_id)
        )
        session.execute(delete(FileShare).where(FileShare.entry_id.in_(subtree)))
        index.move_owner(session, "file", subtree, target.owner_id)
    if name != entry.name:
        index.retitle(session, "file", entry.id, name)
    old_base = path_of(session, entry)
    try:
        with session.begin_nested():  # PostgreSQL: a name taken meanwhile (SQLite: locked)
            entry.parent_id, entry.name = target.id, name
            entry.modified_at = utcnow()
    except IntegrityError:
        raise Conflict("Something named '%(name)s' is already there.", name=name) from None
    session.refresh(entry)
    new_base = path_of(session, entry)
    for path, blob, size in moving:
        if blob is not None:
            journal.wrote(session, entry.owner_id, new_base + path[len(old_base) :], blob, size)
    return entry


def trash(
    session: Session, member: Member, entry: FileEntry, synced: dict[str, int] | None = None
) -> None:
    """Move to the trash, from where it can be restored for 30 days.

    ``synced``: the reconciled vector of this deletion, when sync makes it (a file only)."""
    if entry.parent_id is None:
        raise BadRequest("A space's root cannot be deleted.")
    check_write(member, entry)
    _as_it_is_now(session, entry)
    index.remove_many(session, "file", _subtree_ids(session, entry) if entry.is_dir else [entry.id])
    for path, _item in files_below(session, entry):
        if synced is None:
            journal.deleted(session, entry.owner_id, path)
        else:
            journal.adopt(session, entry.owner_id, path, synced, None, 0)
    entry.deleted_from = path_of(session, entry)
    entry.deleted_at = utcnow()
    session.flush()
    purge_expired(session)


def trashed(session: Session, member: Member) -> list[FileEntry]:
    purge_expired(session)
    return list(
        session.scalars(
            select(FileEntry)
            .where(
                FileEntry.deleted_at.is_not(None),
                (FileEntry.owner_id == member.id) | FileEntry.owner_id.is_(None),
            )
            .order_by(FileEntry.deleted_at.desc())
        )
    )


def reindex(session: Session, entry: FileEntry, blobs: BlobStore) -> None:
    """Put an entry's text files (a folder's, all of them) back in the search index."""
    ids = _subtree_ids(session, entry) if entry.is_dir else [entry.id]
    for item in session.scalars(
        select(FileEntry).where(FileEntry.id.in_(ids), FileEntry.blob.is_not(None))
    ):
        if item.blob and index.is_text(item.name, item.content_type, item.size):
            if not blobs.exists(item.blob):  # damaged: shown as such, not indexed
                continue
            body = blobs.read(item.blob).decode("utf-8", "replace")
            index.put(session, "file", item.id, item.owner_id, item.name, body)


def restore(session: Session, member: Member, entry_id: int) -> FileEntry:
    write_lock(session)  # the free name found below is still free when taken
    entry = session.get(FileEntry, entry_id, populate_existing=True)
    if entry is None or entry.deleted_at is None or entry.owner_id not in (None, member.id):
        raise NotFound("This item is not in your trash.")
    parent = session.get(FileEntry, entry.parent_id) if entry.parent_id else None
    if parent is None or parent.deleted_at is not None:
        parent = root(session, Space("", entry.owner_id))
    name = entry.name
    stem, dot, extension = name.rpartition(".")
    number = 1
    while child(session, parent, name) is not None:
        number += 1
        name = f"{stem} ({number}).{extension}" if dot and stem else f"{entry.name} ({number})"
    entry.parent_id, entry.name = parent.id, name
    entry.deleted_at = entry.deleted_from = None
    session.flush()
    for path, item in files_below(session, entry):
        if item.blob is not None:
            journal.wrote(session, entry.owner_id, path, item.blob, item.size)
    return entry


def restore_version(
    session: Session,
    member: Member,
    entry: FileEntry,
    version_id: int,
    blobs: BlobStore | None = None,
) -> FileEntry:
    check_write(member, entry)
    version = session.get(FileVersion, version_id)
    if version is None or version.entry_id != entry.id:
        raise NotFound("No such version of this file.")
    if blobs is not None and not blobs.exists(version.blob):
        raise Conflict("This version is damaged on the home server too; choose another one.")
    parent = session.get(FileEntry, entry.parent_id)
    assert parent is not None
    plan = WritePlan(Space("", entry.owner_id), parent.id, entry.name, 0)
    return record_write(
        session, plan, member, version.blob, version.size, entry.content_type, blobs
    )


def locate(session: Session, member: Member, key: str, path: str) -> tuple[Space | None, FileEntry]:
    """The entry at ``key/path`` as this member may see it.

    ``key`` is "mine", "household", or "shared" (then the path starts with the shared entry's
    id). Shared entries come back with no space: they are read-only to this member.
    """
    parts = paths.split(path)
    if key != "shared":
        where = space(member, key)
        return where, resolve(session, where, parts)
    if not parts or not parts[0].isdigit():
        raise NotFound("No file or folder at this path.")
    entry = session.get(FileEntry, int(parts[0]))
    if entry is None or entry.deleted_at is not None or not can_read(session, member, entry):
        raise NotFound("No file or folder at this path.")
    for name in parts[1:]:
        found = child(session, entry, name) if entry.is_dir else None
        if found is None:
            raise NotFound("No file or folder at this path.")
        entry = found
    return None, entry

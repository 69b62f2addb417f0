"""The files part of a member's environment: their private space, whole.

    files/<path>        each live file, as it is (what a person opens)
    files.json          folders, each file's type, revision and earlier versions, the
                        trash, shares (by member name), WebDAV dead properties and each
                        path's version vector for sync (files/carried.py)
    blobs/<sha256>      content of earlier versions and trashed files not already above

Import is idempotent: a file already there with the same content, a version with the same
revision and content, a trashed item with the same origin and date are left as they are. A
file there with other content is overwritten (what it held becomes an earlier version).
Shares are made again with the members of the same name on this node (the household's
shares with the household); a share whose member is not here is skipped and said so.
Versions of trashed files are not carried (the trash is for restoring, not for history).
In replace mode (moving home's way back), the member's files become exactly the archive's:
see hameau/files/replacing.py.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.errors import BadRequest, Conflict, InsufficientStorage
from hameau.files import carried, dav_props, journal, paths, purge, quota, replacing, shares, walk
from hameau.files import service as files
from hameau.files.models import DavProperty, FileEntry, FileShare, FileVersion
from hameau.files.retention import versions
from hameau.node.blobs import BlobDamaged, BlobError
from hameau.node.datadir import Node
from hameau.node.db import utcnow
from hameau.node.environment import ArchiveReader, ArchiveWriter, Usage, damaged
from hameau.search import index

INDEX = "files.json"
STORE_BATCH = 256  # contents made durable together


def _copy(node: Node, archive: ArchiveWriter, path: str, digest: str, shown: str) -> None:
    if archive.by_reference:  # only named (a move's): its size from the store, not opened
        size = node.blobs.size(digest)
        if size is not None:
            archive.add_reference(path, digest, size)
            return
    try:  # hashed as it is copied: damaged content never goes into an archive
        with node.blobs.open_verified(digest) as source:
            archive.add_stream(path, source, digest)
    except (BlobDamaged, ValueError):
        raise Conflict(
            "The file '%(path)s' is damaged on the home server, so nothing was exported: "
            "restore an earlier version of it (or delete it) and export again.",
            path=shown,
        ) from None


def _content(node: Node, archive: ArchiveWriter, written: set[str], digest: str, shown: str) -> str:
    """Put content in `blobs/` unless the archive holds it already; returns its hash."""
    if digest not in written:
        _copy(node, archive, f"blobs/{digest}", digest, shown)
        written.add(digest)
    return digest


def _file_record(entry: FileEntry, path: str, earlier: list[FileVersion]) -> dict[str, Any]:
    return {
        "path": path, "sha256": entry.blob, "size": entry.size,
        "content_type": entry.content_type, "revision": entry.revision,
        "created_at": entry.created_at.isoformat(), "modified_at": entry.modified_at.isoformat(),
        "versions": [
            {"revision": v.revision, "sha256": v.blob, "size": v.size,
             "created_at": v.created_at.isoformat()}
            for v in earlier
        ],
    }  # fmt: skip


def _rows_by_entry(
    session: Session, member: Member, model: Any, *order: Any
) -> dict[int, list[Any]]:
    """Every row of ``model`` for the member's entries, by entry, in one query (not one per
    file: an export by reference of thousands of files is mostly these)."""
    owned = select(FileEntry.id).where(FileEntry.owner_id == member.id)
    found: dict[int, list[Any]] = {}
    query = select(model).where(model.entry_id.in_(owned)).order_by(model.entry_id, *order)
    for row in session.scalars(query):
        found.setdefault(row.entry_id, []).append(row)
    return found


def _trash_record(
    node: Node, session: Session, archive: ArchiveWriter, written: set[str], entry: FileEntry
) -> dict[str, Any]:
    inside = walk.tree(session, entry) if entry.is_dir else [("", entry)]
    origin = entry.deleted_from or entry.name
    for path, item in inside:
        if not item.is_dir and item.blob:
            _content(node, archive, written, item.blob, f"{origin}/{path}".rstrip("/"))
    return {
        "from": entry.deleted_from or entry.name,
        "deleted_at": entry.deleted_at.isoformat() if entry.deleted_at else None,
        "is_dir": entry.is_dir,
        "items": [
            {"path": path, "is_dir": item.is_dir, "sha256": item.blob, "size": item.size,
             "content_type": item.content_type}
            for path, item in inside
        ],
    }  # fmt: skip


def export(node: Node, session: Session, member: Member, archive: ArchiveWriter) -> None:
    top = files.root(session, files.space(member, "mine"))
    tree = walk.tree(session, top)
    written: set[str] = set()
    records, folders, shared, properties = [], [], [], []
    names = dict(session.execute(select(Member.id, Member.name)).all())
    earlier = _rows_by_entry(session, member, FileVersion, FileVersion.revision.desc())
    shared_by = _rows_by_entry(session, member, FileShare, FileShare.id)
    props_by = _rows_by_entry(session, member, DavProperty, DavProperty.id)
    for path, entry in tree:
        if entry.is_dir:
            folders.append(path)
        else:
            assert entry.blob is not None
            _copy(node, archive, f"files/{path}", entry.blob, path)
            written.add(entry.blob)
            records.append(_file_record(entry, path, earlier.get(entry.id, [])))
            for version in records[-1]["versions"]:
                _content(node, archive, written, version["sha256"], path)
        for share in shared_by.get(entry.id, []):
            shared.append({"path": path, "with": names.get(share.member_id or 0)})
        for prop in props_by.get(entry.id, []):
            properties.append(
                {"path": path, "name": prop.name, "value": base64.b64encode(prop.value).decode()}
            )
    trash = [
        _trash_record(node, session, archive, written, entry)
        for entry in files.trashed(session, member)
        if entry.owner_id == member.id
    ]
    archive.add_json(
        INDEX,
        {"folders": folders, "files": records, "trash": trash, "shares": shared,
         "properties": properties, "journal": carried.export(session, member)},
    )  # fmt: skip


# ---------------------------------------------------------------- import


def _when(text: str | None) -> datetime:
    return datetime.fromisoformat(text) if text else utcnow()


def _store(node: Node, archive: ArchiveReader, digests: list[str], where: dict[str, str]) -> None:
    """Content into the node's blob store (through its API), unless it is there already;
    made durable a batch at a time (two syncs per batch, not two per file)."""
    missing = [digest for digest in digests if not node.blobs.exists(digest)]
    for start in range(0, len(missing), STORE_BATCH):
        writers = []
        try:
            for digest in missing[start : start + STORE_BATCH]:
                if digest not in where:
                    raise damaged(f"the content {digest[:12]}… is not in it")
                writer = node.blobs.writer()
                writers.append(writer)
                with archive.open(where[digest]) as source:
                    while chunk := source.read(1 << 20):
                        writer.write(chunk)
                try:
                    writer.commit(expect=digest, later=True)
                except BlobError:
                    raise damaged(f"{where[digest]} is not what its manifest says") from None
            node.blobs.settle(writers)
        except BaseException:
            for writer in writers:
                writer.abort()
            raise


class _Folders:
    """The member's folders during an import, each listed once: its live entries by name
    (an import of thousands of files looked each one's folders up again, a query a level)."""

    def __init__(self, session: Session, member: Member) -> None:
        self.session, self.member = session, member
        top = files.root(session, files.space(member, "mine"))
        self.found: dict[tuple[str, ...], FileEntry] = {(): top}
        self.listed: dict[int, dict[str, FileEntry]] = {}

    def entries(self, folder: FileEntry) -> dict[str, FileEntry]:
        listed = self.listed.get(folder.id)
        if listed is None:
            listed = {entry.name: entry for entry in files.children(self.session, folder)}
            self.listed[folder.id] = listed
        return listed

    def folder(self, parts: list[str]) -> FileEntry:
        """The folder at ``parts`` of the member's space, made where missing."""
        key = tuple(parts)
        if key in self.found:
            return self.found[key]
        above = self.folder(parts[:-1])
        name = parts[-1]
        found = self.entries(above).get(name)
        if found is None:
            found = FileEntry(owner_id=self.member.id, parent_id=above.id, name=name, is_dir=True)
            self.session.add(found)
            self.session.flush()
            self.entries(above)[name] = found
            self.listed[found.id] = {}
        elif not found.is_dir:
            raise Conflict(
                "'%(name)s' is a file here but a folder in the archive; rename it, then import"
                " again.",
                name=name,
            )
        self.found[key] = found
        return found


def _index_text(node: Node, session: Session, entry: FileEntry) -> None:
    if entry.blob and index.is_text(entry.name, entry.content_type, entry.size):
        body = node.blobs.read(entry.blob).decode("utf-8", "replace")
        index.put(session, "file", entry.id, entry.owner_id, entry.name, body)


def _new_file(member: Member, parent: FileEntry, name: str, record: dict[str, Any]) -> FileEntry:
    return FileEntry(
        owner_id=member.id, parent_id=parent.id, name=name, is_dir=False,
        blob=record["sha256"], size=record["size"],
        content_type=record.get("content_type") or "application/octet-stream",
        revision=record.get("revision", 1), charged_to=member.id,
        created_at=_when(record.get("created_at")),
        modified_at=_when(record.get("modified_at")),
    )  # fmt: skip


def _add_versions(
    session: Session, member: Member, entry: FileEntry, record: dict[str, Any], have: set[Any]
) -> None:
    for version in record.get("versions", []):
        if (version["revision"], version["sha256"]) not in have:
            session.add(
                FileVersion(
                    entry_id=entry.id, revision=version["revision"], blob=version["sha256"],
                    size=version["size"], charged_to=member.id,
                    created_at=_when(version.get("created_at")),
                )
            )  # fmt: skip


def _import_files(
    node: Node,
    session: Session,
    member: Member,
    records: list[dict[str, Any]],
    tree: _Folders,
    replace: bool = False,
) -> set[str]:
    """The new files added together (one flush), then their journal, search and versions;
    a file there already is left as it is, or takes the archive's content if it differs (in
    replace mode, exactly the archive's record: returns the content it no longer refers to,
    as this node's own changes since do not stay as versions)."""
    new, there = [], []
    for record in records:
        *folders, name = record["path"].split("/")
        parent = tree.folder(folders)
        entry = tree.entries(parent).get(name)
        if entry is None:
            entry = tree.entries(parent)[name] = _new_file(member, parent, name, record)
            session.add(entry)
            new.append((entry, record))
        elif entry.is_dir:
            raise Conflict(
                "'%(name)s' is a folder here but a file in the archive; rename it, then import"
                " again.",
                name=name,
            )
        else:
            there.append((entry, parent, record))
    session.flush()
    journal.wrote_many(
        session,
        member.id,
        [(record["path"], entry.blob or "", entry.size) for entry, record in new],
    )
    for entry, record in new:
        _index_text(node, session, entry)
        _add_versions(session, member, entry, record, set())
    released: set[str] = set()
    for entry, parent, record in there:
        if replace:
            changed = entry.blob != record["sha256"]
            released |= replacing.as_recorded(session, entry, record)
            if changed:
                _index_text(node, session, entry)
        elif entry.blob != record["sha256"]:  # changed here since: the archive's becomes current
            plan = files.WritePlan(files.space(member, "mine"), parent.id, entry.name, 0)
            entry = files.record_write(
                session, plan, member, record["sha256"], record["size"],
                record.get("content_type", ""), node.blobs,
            )  # fmt: skip
        have = {(v.revision, v.blob) for v in versions(session, entry)}
        _add_versions(session, member, entry, record, have)
    return released


def _import_trashed(session: Session, member: Member, record: dict[str, Any]) -> None:
    deleted_at = _when(record.get("deleted_at"))  # None in the archive: trashed now
    for entry in files.trashed(session, member):
        if entry.deleted_from == record["from"] and entry.deleted_at == deleted_at:
            return  # imported before
    *folders, name = record["from"].split("/")
    parent = files.root(session, files.space(member, "mine"))
    for folder in folders:  # where it was, if that folder is here; else the space's root
        found = files.child(session, parent, folder)
        if found is None or not found.is_dir:
            break
        parent = found
    items = {item["path"]: item for item in record.get("items", [])}
    top = items.get("", {"is_dir": record["is_dir"], "sha256": None, "size": 0})
    entry = FileEntry(
        owner_id=member.id, parent_id=parent.id, name=name, is_dir=record["is_dir"],
        blob=top.get("sha256"), size=top.get("size", 0), charged_to=member.id,
        content_type=top.get("content_type") or "application/octet-stream",
        deleted_at=deleted_at, deleted_from=record["from"],
    )  # fmt: skip
    session.add(entry)
    session.flush()
    made = {"": entry}
    for path in sorted(path for path in items if path):
        item, (above, _, leaf) = items[path], path.rpartition("/")
        made[path] = FileEntry(
            owner_id=member.id, parent_id=made[above].id, name=leaf, is_dir=item["is_dir"],
            blob=item.get("sha256"), size=item.get("size", 0), charged_to=member.id,
            content_type=item.get("content_type") or "application/octet-stream",
        )  # fmt: skip
        session.add(made[path])
        session.flush()


def _needed(data: dict[str, Any]) -> tuple[set[str], int]:
    """Every content the archive's files refer to, and the bytes they count for."""
    digests: set[str] = set()
    total = 0
    for record in data.get("files", []):
        digests.add(record["sha256"])
        total += record["size"]
        for version in record.get("versions", []):
            digests.add(version["sha256"])
            total += version["size"]
    for trashed in data.get("trash", []):
        for item in trashed.get("items", []):
            if item.get("sha256"):
                digests.add(item["sha256"])
                total += item["size"]
    return digests, total


def _check_room(session: Session, member: Member, total: int) -> None:
    if quota.usage(session, member.id) > member.quota_bytes or total > member.quota_bytes:
        raise InsufficientStorage(
            "The files of this archive (%(size)s MB) do not fit in %(name)s's quota here"
            " (%(quota)s MB): import them with a larger quota.",
            size=max(1, -(-total >> 20)),
            quota=member.quota_bytes >> 20,
            name=member.name,
        )


def _import_extras(session: Session, member: Member, data: dict[str, Any]) -> list[str]:
    """Shares and dead properties of live entries; returns the names of members not here."""
    top = files.root(session, files.space(member, "mine"))
    live = dict(walk.tree(session, top))
    skipped = []
    for share in data.get("shares", []):
        entry, name = live.get(share["path"]), share.get("with")
        other = session.scalar(select(Member).where(Member.name == name)) if name else None
        if entry is None or (name and other is None):
            skipped.append(name or "")
            continue
        shares.share(session, member, entry, other)
    for prop in data.get("properties", []):
        entry = live.get(prop["path"])
        if entry is None:
            continue
        dav_props.put(session, member, entry.id, prop["name"], base64.b64decode(prop["value"]))
    return skipped


def _check_paths(data: dict[str, Any]) -> None:
    """Every path the index names is made of names a file may have (no `..`, no `/x`)."""
    named = [*data.get("folders", []), *(r["path"] for r in data.get("files", []))]
    for trashed in data.get("trash", []):
        named.append(trashed["from"])
        named.extend(item["path"] for item in trashed.get("items", []) if item["path"])
    for path in named:
        try:
            for name in str(path).split("/"):
                paths.check_name(name)
        except BadRequest:
            raise damaged(f"it names a file {str(path)[:80]!r}") from None


def import_(
    node: Node, session: Session, member: Member, archive: ArchiveReader, replace: bool = False
) -> list[str]:
    """Returns what could not be made again here, in a line each (shares with absent members).
    ``replace``: the member's files here become exactly the archive's (files/replacing.py)."""
    data = archive.read_json(INDEX, {})
    _check_paths(data)
    digests, total = _needed(data)
    released = replacing.clear(session, member, data) if replace else set()
    _check_room(session, member, total)
    where = dict(archive.by_hash())
    _store(node, archive, sorted(digests), where)
    tree = _Folders(session, member)
    for folder in data.get("folders", []):
        tree.folder(folder.split("/"))
    released |= _import_files(node, session, member, data.get("files", []), tree, replace)
    for trashed in data.get("trash", []):
        _import_trashed(session, member, trashed)
    session.flush()
    skipped = _import_extras(session, member, data)
    carried.adopt(session, member, data.get("journal") or [])
    purge.release(session, node.blobs, released)
    if quota.usage(session, member.id) > member.quota_bytes:
        _check_room(session, member, quota.usage(session, member.id))
    return [
        f"A share with '{name}' was not made again: no member of that name here."
        for name in skipped
        if name
    ]


def usage(node: Node, session: Session, member: Member) -> Usage:
    owned = select(FileEntry.id).where(FileEntry.owner_id == member.id)
    rows = session.scalar(select(func.count()).select_from(owned.subquery())) or 0
    rows += (
        session.scalar(select(func.count(FileVersion.id)).where(FileVersion.entry_id.in_(owned)))
        or 0
    )
    rows += (
        session.scalar(select(func.count(FileShare.id)).where(FileShare.entry_id.in_(owned))) or 0
    )
    return Usage(quota.usage(session, member.id), int(rows))

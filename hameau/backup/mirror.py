"""Content kept in an S3 store, backed up by restic reading a folder: the mirror.

restic backs up folders, and asking it for one blob at a time (`restic backup --stdin`) costs
about a second each (docs/backup.md), so the store's content is shown to restic as a folder
inside the data dir, `backup/mirror/`, one file per blob in the local store's layout
(`aa/bb/<sha256>`), backed up with the rest of the data dir in one snapshot:

- a blob that the target's last snapshot holds is a **stub**: a sparse file of the blob's size
  with a fixed modification time, taking no room on the disk. Given that snapshot as
  `--parent`, with `--ignore-ctime --ignore-inode`, restic finds the file unchanged (same
  path, size and time) and keeps the content it already has, without reading a byte of it;
- a blob the last snapshot lacks (written since, or every blob for a target without a known
  last snapshot) is downloaded, hashed against its name on the way (`open_verified`).

After a good backup, what its snapshot holds is written down for that target (a list whose
first line is the snapshot's id, in `backup/mirror-lists/`), and the downloaded files become
stubs again. A stub is never shown to restic but with the snapshot that list names, and only
when that snapshot is the target's latest: otherwise everything is downloaded (restic would
read a stub as zeros). Content is named by its hash, so a path holds one content forever.

The store is listed after the database's snapshot is taken: content written later is not
needed by that snapshot; content purged in between is missing from the backup (it was being
deleted for good), and the restore's check says so.

On the way back (`put_back`), each blob is written to the store the admin chose (S3, or the
data dir's own disk) under its hash, refused if it hashes otherwise, and read back and hashed
again (S3); content the store holds soundly already is left as it is."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hameau.backup.key import folder
from hameau.backup.restic import BackupFailed, Restic
from hameau.node.blobs import CHUNK, BlobDamaged, BlobError, BlobStore, is_digest
from hameau.node.datadir import Layout, Node

log = logging.getLogger("hameau.backup")

MIRROR = "mirror"
LISTS = "mirror-lists"
# Every mirror file's modification time (2001-09-09): a path holds one content forever.
STUB_TIME = 1_000_000_000
DOWNLOADERS = 4  # an S3 store answers each request in milliseconds: a few at once
SPOOL_BYTES = 4 << 30  # downloaded at most per round (a first backup of a large store: rounds)
TAG, PART_TAG = "hameau", "hameau-part"  # a part's snapshot is never restored from


def mirror_folder(layout: Layout) -> Path:
    return folder(layout) / MIRROR


def path_of(root: Path, digest: str) -> Path:
    """Where a blob is in the mirror (the local store's layout, so a restore can read it so)."""
    return root / digest[:2] / digest[2:4] / digest


def _list_file(layout: Layout, spec: str) -> Path:
    name = hashlib.sha256(spec.encode()).hexdigest()[:16]
    return folder(layout) / LISTS / f"{name}.list"


def _known(layout: Layout, spec: str) -> tuple[str, set[str]]:
    """The snapshot the list of `spec` names, and the blobs it holds ("" and none: no list)."""
    path = _list_file(layout, spec)
    if not path.is_file():
        return "", set()
    lines = path.read_text().split("\n")
    return lines[0].strip(), {line for line in lines[1:] if is_digest(line)}


def _latest(restic: Restic, node: Node) -> set[str]:
    """The ids (long and short) of this node's latest snapshot at the target."""
    found = (
        restic.json(["snapshots", "--tag", TAG, "--tag", PART_TAG, "--host", node.identity.node_id])
        or []
    )
    if not found:
        return set()
    latest = max(found, key=lambda snapshot: snapshot["time"])
    return {latest["id"], latest.get("short_id", "")} - {""}


@dataclass
class Staged:
    """The mirror as given to one backup: restic's extra arguments, what it holds."""

    parent: str = ""
    held: dict[str, int] = field(default_factory=dict)  # every blob in the mirror: its size
    downloaded: list[str] = field(default_factory=list)
    complete: bool = True  # False: more to download than the spool allows; a part, then more

    @property
    def arguments(self) -> list[str]:
        tag = ["--tag", TAG if self.complete else PART_TAG]
        if not self.parent:
            return tag
        return [*tag, "--parent", self.parent, "--ignore-ctime", "--ignore-inode"]


def spool_room(root: Path) -> int:
    """How much a round may download: `SPOOL_BYTES`, or half the disk's free room."""
    root.mkdir(parents=True, exist_ok=True)
    return max(1, min(SPOOL_BYTES, shutil.disk_usage(root).free // 2))


def stage(node: Node, spec: str, restic: Restic) -> Staged | None:
    """The mirror made ready for a backup to `spec`; None for a node whose content is on its
    own disk (backed up as `blobs/`; a mirror left by a store since moved is removed).
    When the blobs to download pass the spool's room, this round holds what fits (stubs and
    downloads only: the rest is absent) and is not `complete`."""
    root = mirror_folder(node.layout)
    store = node.blobs
    if store.local_folder() is not None:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(folder(node.layout) / LISTS, ignore_errors=True)
        return None
    parent, known = _known(node.layout, spec)
    if parent and parent not in _latest(restic, node):
        parent, known = "", set()  # the list is not of the target's latest snapshot: not trusted
    staged = Staged(parent=parent if known else "")
    room, wanted = spool_room(root), list[str]()
    for digest, size in sorted(store.listing()):
        if digest in known:
            staged.held[digest] = size
        elif room >= size or not wanted:  # one blob at least, whatever its size
            staged.held[digest], room = size, room - size
            wanted.append(digest)
        else:
            staged.complete = False
    _remove_others(root, staged.held)
    for digest in known & staged.held.keys():
        _stub(path_of(root, digest), staged.held[digest])
    staged.downloaded = _download(store, root, wanted)
    for digest in set(wanted) - set(staged.downloaded):
        del staged.held[digest]  # damaged or gone: not in this snapshot
    return staged


def _remove_others(root: Path, held: dict[str, int]) -> None:
    """Files of blobs the store no longer holds (purged), and cut-short downloads."""
    if not root.is_dir():
        return
    for path in root.glob("??/??/*"):
        if path.name not in held:
            path.unlink(missing_ok=True)


def _stub(path: Path, size: int) -> None:
    """The blob's file as a stub (kept as it is if it is one, or the whole content)."""
    try:
        found = path.stat()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        found = path.stat()
    if found.st_size != size:
        os.truncate(path, 0)
        os.truncate(path, size)
    if found.st_mtime != STUB_TIME or found.st_size != size:
        os.utime(path, (STUB_TIME, STUB_TIME))


def _download(store: BlobStore, root: Path, wanted: list[str]) -> list[str]:
    """Each wanted blob into the mirror, verified; damaged or vanished ones are left out (the
    store quarantined them; the scrub and `hameau check` report them)."""

    def one(digest: str) -> str | None:
        path = path_of(root, digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(digest + ".tmp")
        try:
            with store.open_verified(digest) as reading, open(temp, "wb") as handle:
                while chunk := reading.read(CHUNK):
                    handle.write(chunk)
        except (BlobDamaged, BlobError) as problem:
            temp.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            log.warning("Content %s left out of the backup: %s.", digest, problem)
            return None
        os.chmod(temp, 0o600)
        os.utime(temp, (STUB_TIME, STUB_TIME))
        temp.replace(path)
        return digest

    if not wanted:
        return []
    with ThreadPoolExecutor(DOWNLOADERS, thread_name_prefix="backup-mirror") as pool:
        return [digest for digest in pool.map(one, wanted) if digest is not None]


def settle(node: Node, spec: str, staged: Staged, snapshot_id: str) -> None:
    """After a good backup: its snapshot's list written (temp file, renamed), and what was
    downloaded made stubs again (its room on the disk given back)."""
    path = _list_file(node.layout, spec)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text("\n".join([snapshot_id, *sorted(staged.held)]) + "\n")
    temp.replace(path)
    root = mirror_folder(node.layout)
    for digest in staged.downloaded:
        target = path_of(root, digest)
        os.truncate(target, 0)
        os.truncate(target, staged.held[digest])
        os.utime(target, (STUB_TIME, STUB_TIME))


def forget_parts(node: Node, restic: Restic) -> None:
    """The parts of a first backup done in rounds, once a whole one is made (their content is
    in it; retention prunes what is left)."""
    found = restic.json(["snapshots", "--tag", PART_TAG, "--host", node.identity.node_id]) or []
    if found:
        restic.run(["forget", *(snapshot["id"] for snapshot in found)])


# ------------------------------------------------------------------ the way back


Say = Callable[[str], None]


def restored_content(tree: Path) -> tuple[Path, bool] | None:
    """Where a restored tree holds its content: the mirror (an S3 node's backup) or `blobs/`;
    whether it was the mirror. None: no content at all."""
    mirror = mirror_folder(Layout(tree))
    if mirror.is_dir():
        return mirror, True
    blobs = tree / "blobs"
    return (blobs, False) if blobs.is_dir() else None


def _digests(root: Path) -> Iterable[Path]:
    return (path for path in sorted(root.glob("??/??/*")) if is_digest(path.name))


def put_back(source: Path, store: BlobStore, consume: bool, say: Say | None = None) -> int:
    """Every blob of `source` (a restored mirror or blobs/ folder) into `store`, each hash
    verified; returns how many. A content that does not hash to its name stops the restore.
    With `consume`, each file of `source` goes once it is in (the disk holds it once)."""
    count = 0
    local = store.local_folder()
    for path in _digests(source):
        digest = path.name
        if local is not None and path.parent.parent.parent == local:
            problem = store.verify(digest)  # already in place: only checked
        elif store.verify(digest) is None:
            problem = None  # the store holds it soundly already (a bucket that survived)
        else:
            problem = _copy_in(path, store, digest)
        if problem is not None:
            raise BackupFailed(
                "Content %(digest)s of the backup does not come back whole (its hash differs),"
                " so the restore stopped; restore from another backup target.",
                digest=digest,
            )
        if consume:
            path.unlink()
        count += 1
        if say is not None and count % 500 == 0:
            say(f"{count} contents restored and verified.")
    return count


def _copy_in(path: Path, store: BlobStore, digest: str) -> str | None:
    """One content written to the store under its hash (refused if it hashes otherwise),
    then read back and hashed again; None, or what is wrong."""
    try:
        with open(path, "rb") as handle, store.writer() as writer:
            while chunk := handle.read(CHUNK):
                writer.write(chunk)
            writer.commit(expect=digest)
    except BlobError:
        return "damaged"
    return store.verify(digest)

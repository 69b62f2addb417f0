"""A peer's restic repository on this node's disk: what the REST backend (store_api.py) reads
and writes, in `<data dir>/backups/<peer node_id>/`.

Every object restic stores but `config` is named by the SHA-256 of its content: such a write
is refused (nothing kept) unless its content hashes to its name, as rest-server does. Each
type (data, keys, locks, snapshots, index) is a content store of its own (node/blobs/local.py:
a temp file, fsynced, renamed, its folder fsynced; writes that arrive together share the
fsyncs); `config` is one file, written the same way. Nothing outside the peer's folder can be
named: types come from a fixed list and names are 64 hexadecimal digits.

The space a repository takes is counted from its files when it is first opened (after the
temp files a killed write left are removed), then kept as writes and deletes go; a write that
would pass the quota is refused before a byte of it reaches the disk."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hameau.backup.errors import BadObject, ObjectMissing, OverQuota
from hameau.errors import DISK_FULL, InsufficientStorage
from hameau.node.blobs.base import BlobError
from hameau.node.blobs.local import LocalBlobStore

KINDS = ("data", "keys", "locks", "snapshots", "index")
CONFIG = "config"
NAME = re.compile(r"[0-9a-f]{64}")
# restic's packs are at most 128 MiB (its --pack-size limit) plus one chunk of up to 8 MiB.
MAX_OBJECT = 144 << 20


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise BadObject(
            "%(kind)s is not a type of restic object (data, keys, locks, snapshots, index).",
            kind=kind[:40],
        )
    return kind


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise BadObject("A restic object's name is 64 hexadecimal digits (its SHA-256).")
    return name


class PeerRepository:
    """One peer's repository: its objects, and the space they take."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()
        self._stores: dict[str, LocalBlobStore] = {}
        self._used: int | None = None

    @property
    def created(self) -> bool:
        return (self.root / "keys").is_dir()

    def create(self) -> None:
        """The folders of a new repository (nothing changes for one already there)."""
        if not self.created:  # new, or deleted by the admin since it was last opened
            with self.lock:
                self._stores.clear()
                self._used = None
        self.root.mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            self._store(kind)
        LocalBlobStore.sync_dir(self.root)
        LocalBlobStore.sync_dir(self.root.parent)

    def _store(self, kind: str) -> LocalBlobStore:
        with self.lock:
            found = self._stores.get(kind)
            if found is None:
                found = self._stores[kind] = LocalBlobStore(self.root / kind)
                found.clear_temp()  # a write cut short (a kill) left it: never acknowledged
        return found

    def _opened(self) -> None:
        """Every type opened (their leftover temp files removed), then the space counted."""
        if not self.created:
            raise ObjectMissing("There is no backup repository here yet.")
        for kind in KINDS:
            self._store(kind)
        with self.lock:
            if self._used is None:
                for leftover in self.root.glob(".config-*"):  # a config write cut short
                    leftover.unlink(missing_ok=True)
                self._used = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def used(self) -> int:
        self._opened()
        assert self._used is not None
        return self._used

    @contextmanager
    def _reserved(self, size: int, quota: int) -> Iterator[None]:
        """`size` more bytes counted while a write goes (given back if it fails)."""
        self._opened()
        with self.lock:
            assert self._used is not None
            if size > 0 and self._used + size > quota:
                raise OverQuota(
                    "This would take your backups past the %(quota)s bytes this home server"
                    " offers them; nothing of it was kept.",
                    quota=quota,
                )
            self._used += size
        try:
            yield
        except BaseException:
            with self.lock:
                self._used -= size
            raise

    def _path(self, kind: str, name: str) -> Path:
        """`kind` CONFIG (with no name) is the config; anything else must be an object."""
        if kind == CONFIG and not name:
            return self.root / CONFIG
        check_kind(kind)
        check_name(name)
        if not self.created:  # asked before restic's init: nothing made on the way
            raise ObjectMissing("There is no backup repository here yet.")
        return self._store(kind).path(name)

    def size(self, kind: str, name: str = "") -> int:
        """The stored object's size; ObjectMissing if it is not there."""
        path = self._path(kind, name)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            raise ObjectMissing("This object is not stored here.") from None

    def read(self, kind: str, name: str, start: int, length: int) -> bytes:
        path = self._path(kind, name)
        try:
            with path.open("rb") as handle:
                handle.seek(start)
                return handle.read(length)
        except FileNotFoundError:
            raise ObjectMissing("This object is not stored here.") from None

    def listing(self, kind: str) -> list[tuple[str, int]]:
        """Every object of a type, with its size."""
        self._opened()
        store = self._store(check_kind(kind))
        found = []
        for name in store.stored():
            try:
                found.append((name, store.path(name).stat().st_size))
            except FileNotFoundError:  # deleted meanwhile
                continue
        return sorted(found)

    def save(self, kind: str, name: str, body: bytes, quota: int) -> None:
        """Store an object durably, its name checked against its content, within `quota`."""
        if not (kind == CONFIG and not name):
            check_kind(kind)
            check_name(name)
        try:
            before = self.size(kind, name)
        except ObjectMissing:
            before = 0
        with self._reserved(len(body) - before, quota):
            if kind == CONFIG and not name:
                self._save_config(body)
                return
            writer = self._store(kind).writer()
            writer.write(body)
            try:
                writer.commit(expect=name)  # hashed as written: a mismatch is dropped
            except BlobError:
                raise BadObject(
                    "This object's name is not the SHA-256 of its content; nothing was kept."
                ) from None

    def _save_config(self, body: bytes) -> None:
        descriptor, temp = tempfile.mkstemp(dir=self.root, prefix=".config-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.root / CONFIG)
        except OSError as error:
            Path(temp).unlink(missing_ok=True)
            if error.errno in (28, 122):  # ENOSPC, EDQUOT
                raise InsufficientStorage(DISK_FULL) from error
            raise
        LocalBlobStore.sync_dir(self.root)

    def delete(self, kind: str, name: str) -> None:
        check_kind(kind)  # the config stays
        size = self.size(kind, name)
        self._opened()
        path = self._path(kind, name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise ObjectMissing("This object is not stored here.") from None
        LocalBlobStore.sync_dir(path.parent)
        with self.lock:
            assert self._used is not None
            self._used -= size


class Repositories:
    """Every peer's repository of this node, each opened once per process (so that the space
    counted stays right while several writes go at once)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._found: dict[str, PeerRepository] = {}

    def of(self, peer_node_id: str) -> PeerRepository:
        with self._lock:
            found = self._found.get(peer_node_id)
            if found is None:
                found = self._found[peer_node_id] = PeerRepository(self.root / peer_node_id)
            return found

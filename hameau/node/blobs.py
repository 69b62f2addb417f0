"""The blob store: file content addressed by its SHA-256, written atomically, stored once.

A write goes to a temp file, is hashed as it streams, fsynced, then renamed to its hash;
only then does the caller record it in the database. Identical content is kept once.
This module holds the interface and the local-disk backend; an S3 backend (Garage) is one
more class with the same methods.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, NoReturn

from hameau.errors import DISK_FULL, InsufficientStorage

HASH_NAME = "sha256"
CHUNK = 1 << 20


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def sync_filesystem(path: Path) -> None:
    """Flush the filesystem holding ``path`` to disk (Linux syncfs; elsewhere, sync all)."""
    libc = _libc()
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if libc is not None and hasattr(libc, "syncfs") and libc.syncfs(descriptor) == 0:
            return
        os.sync()
    finally:
        os.close(descriptor)


class BlobError(Exception):
    """The blob store could not store or find some content."""


class BlobWriter:
    """Streams content into the store; `commit()` makes it durable and returns its hash."""

    def __init__(self, store: LocalBlobStore) -> None:
        self.store = store
        descriptor, name = tempfile.mkstemp(dir=store.temp_dir, prefix="upload-")
        self._file: BinaryIO | None = os.fdopen(descriptor, "wb")
        self._temp = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0
        self.digest: str | None = None

    def write(self, chunk: bytes) -> None:
        assert self._file is not None, "write after commit or abort"
        try:
            self._file.write(chunk)
        except OSError as error:
            self._failed(error)
        self._hash.update(chunk)
        self.size += len(chunk)

    def _failed(self, error: OSError) -> NoReturn:
        """A full disk becomes 507 with a sentence; either way nothing partial is kept."""
        self.abort()
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage(DISK_FULL) from error
        raise error

    def commit(self, expect: str | None = None, later: bool = False) -> str:
        """See `_commit`; a full disk raises InsufficientStorage (507), nothing kept."""
        try:
            return self._commit(expect, later)
        except OSError as error:
            self._failed(error)

    def _commit(self, expect: str | None, later: bool) -> str:
        """fsync, rename to the content's hash (or drop it if already stored), return the hash.

        With ``expect``, content whose hash differs is dropped and BlobError raised. With
        ``later``, the content is only hashed and closed; `LocalBlobStore.settle` makes a
        batch of such writes durable and puts them in place together."""
        assert self._file is not None
        digest = self._hash.hexdigest()
        if expect is not None and digest != expect:
            self.abort()
            raise BlobError(f"content announced as {expect} hashes to {digest}")
        self._file.flush()
        if later:
            self._file.close()
            self._file = None
            self.digest = digest
            return digest
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        final = self.store.path(digest)
        if final.exists():
            self._temp.unlink()
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._temp, final)
            self.store.sync_dir(final.parent)
        self.digest = digest
        return digest

    def abort(self) -> None:
        """Forget what was written: nothing partial stays on disk."""
        if self._file is not None:
            with contextlib.suppress(OSError):  # a buffer a full disk refused: dropped anyway
                self._file.close()
            self._file = None
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.digest is None:
            self.abort()


class LocalBlobStore:
    """Blobs in `<root>/ab/cd/<sha256>` on the node's disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.temp_dir = root / "tmp"
        self.temp_dir.mkdir(parents=True, exist_ok=True)

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    def put(self, data: bytes) -> str:
        with self.writer() as writer:
            writer.write(data)
            return writer.commit()

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(char in "0123456789abcdef" for char in digest):
            raise BlobError(f"not a blob name: {digest!r}")
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise BlobError(f"blob {digest} is missing from the store") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as handle:
            return handle.read()

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def clear_temp(self) -> int:
        """Remove temp files left by writes cut short (a crash, a kill -9); returns how many."""
        removed = 0
        for leftover in self.temp_dir.glob("upload-*"):
            leftover.unlink(missing_ok=True)
            removed += 1
        for aside in self.temp_dir.glob("purged-*"):  # a purge cut short: put back, as it was
            final = self.path(aside.name.removeprefix("purged-"))
            if final.exists():
                aside.unlink()
            else:
                os.replace(aside, final)
        return removed

    def settle(self, writers: list[BlobWriter]) -> None:
        """Make writes committed with ``later`` durable and put them in place: one sync of
        the filesystem for all their content, the renames, one more for the renames (the
        same guarantee as an fsync of each file and of each folder, at two syncs in all)."""
        if not writers:
            return
        sync_filesystem(self.root)
        for writer in writers:
            assert writer.digest is not None
            final = self.path(writer.digest)
            if final.exists():
                writer._temp.unlink(missing_ok=True)
                continue
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(writer._temp, final)
        sync_filesystem(self.root)

    @staticmethod
    def sync_dir(folder: Path) -> None:
        """Make a rename in ``folder`` durable."""
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

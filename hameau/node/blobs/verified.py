"""Stored content of the local-disk backend read and hashed as it goes (`open_verified`)."""

from __future__ import annotations

import hashlib
import io
import os
from typing import TYPE_CHECKING, Any, BinaryIO

from hameau.node.blobs.base import BlobDamaged

if TYPE_CHECKING:
    from hameau.node.blobs.local import LocalBlobStore


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


class HashedReading:
    """What every backend's reader checks: content read from its start is hashed as it goes,
    and the read that would return its last bytes compares the hash first; on a mismatch
    that copy (`only`) is quarantined and `BlobDamaged` raised. A seek elsewhere than the
    start (a ranged read) turns the check off: a part has nothing to be checked against."""

    store: Any
    digest: str
    size: int
    _hash: Any
    _position: int

    def _moved(self, position: int) -> int:
        self._position = position
        self._hash = hashlib.sha256() if position == 0 else None
        return position

    def _took(self, data: bytes, only: object) -> bytes:
        self._position += len(data)
        if self._hash is not None:
            self._hash.update(data)
            if self._position >= self.size and self._hash.hexdigest() != self.digest:
                self._hash = None
                self.store.quarantine(self.digest, "damaged", only=only)
                raise BlobDamaged(self.digest, "damaged")
        return data

    def tell(self) -> int:
        return self._position


class VerifiedReader(HashedReading, io.RawIOBase):
    """Stored content read from its start, hashed as it goes: the read that would return its
    last bytes checks the hash first and, on a mismatch, quarantines the content and raises
    `BlobDamaged` instead, so a reader never gets a whole, wrong file. A seek elsewhere than
    the start (a ranged read) turns the check off (see `LocalBlobStore.ensure_sound`)."""

    def __init__(self, store: LocalBlobStore, digest: str) -> None:
        self.store, self.digest = store, digest
        try:
            self._file: BinaryIO = store.path(digest).open("rb")
        except FileNotFoundError:
            raise BlobDamaged(digest, "missing") from None
        stat = os.fstat(self._file.fileno())
        self.size, self._identity = stat.st_size, _identity(stat)
        self._hash: hashlib._Hash | None = hashlib.sha256()
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._moved(self._file.seek(offset, whence))

    def read(self, size: int = -1) -> bytes:
        return self._took(self._file.read(size), self._identity)

    def close(self) -> None:
        self._file.close()
        super().close()

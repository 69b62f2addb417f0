"""Stored content of the local-disk backend read and hashed as it goes (`open_verified`)."""

from __future__ import annotations

import hashlib
import io
import os
from typing import TYPE_CHECKING, BinaryIO

from hameau.node.blobs.base import BlobDamaged

if TYPE_CHECKING:
    from hameau.node.blobs.local import LocalBlobStore


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


class VerifiedReader(io.RawIOBase):
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
        self._position = self._file.seek(offset, whence)
        # From the start, hashed afresh; from elsewhere, a part: nothing to check it against.
        self._hash = hashlib.sha256() if self._position == 0 else None
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._position += len(data)
        if self._hash is not None:
            self._hash.update(data)
            if self._position >= self.size and self._hash.hexdigest() != self.digest:
                self._hash = None
                self.store.quarantine(self.digest, "damaged", only=self._identity)
                raise BlobDamaged(self.digest, "damaged")
        return data

    def close(self) -> None:
        self._file.close()
        super().close()

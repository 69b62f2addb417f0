"""A write in progress, common to every backend: content streamed into a temp file on the
node's disk and hashed as it goes. Each backend's writer says what `commit()` does with it
(the local disk renames it under its hash; S3 uploads it)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self

from hameau.errors import DISK_FULL, InsufficientStorage
from hameau.node.blobs.base import BlobError

BESIDE = 256 << 10  # a piece this large may be hashed by a helper thread while it is written
_hashers: list[ThreadPoolExecutor] = []
_hashers_made = threading.Lock()


def _hashed_beside(hash_: Any, piece: bytes | memoryview) -> Future[None]:
    """``hash_`` updated with ``piece`` in a helper thread (hashlib releases the GIL)."""
    if not _hashers:
        with _hashers_made:
            if not _hashers:
                _hashers.append(ThreadPoolExecutor(4, thread_name_prefix="blob-hash"))
    return _hashers[0].submit(hash_.update, piece)


def spare_core() -> bool:
    """Whether a core is idle enough to hash beside the write: on a busy machine the helper
    thread only adds handoffs (measured: up to 0.3 s more CPU per GiB at a load of 20-25 on
    two cores, docs/benchmarks.md), so a writer hashes beside only when the load is under
    the cores."""
    cores = os.cpu_count() or 1
    return cores > 1 and os.getloadavg()[0] < cores - 0.5


class SpoolWriter:
    def __init__(self, folder: Path) -> None:
        descriptor, name = tempfile.mkstemp(dir=folder, prefix="upload-")
        self._file: Any = os.fdopen(descriptor, "wb")
        self._temp = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0
        self.digest: str | None = None
        self._beside: bool | None = None  # hash large pieces beside the write (decided once)

    def write(self, chunk: bytes | memoryview) -> None:
        """Hash and write ``chunk``; a large one is hashed beside the write when a core is
        spare (`spare_core`). The caller may reuse ``chunk``'s buffer once this returns."""
        assert self._file is not None, "write after commit or abort"
        hashing = None
        if len(chunk) >= BESIDE:
            if self._beside is None:
                self._beside = spare_core()
            if self._beside:
                hashing = _hashed_beside(self._hash, chunk)
        try:
            self._put(chunk)
        except OSError as error:
            if hashing is not None:
                hashing.result()  # done with the buffer before the caller gets it back
            self._failed(error)
        if hashing is None:
            self._hash.update(chunk)
        else:
            hashing.result()
        self.size += len(chunk)
        self._written()

    def _put(self, chunk: bytes | memoryview) -> None:
        """Write ``chunk`` at the end of the temp file (see `LocalWriter` for the local disk)."""
        self._file.write(chunk)

    def _written(self) -> None:
        """After each write: a backend may start writing the content out (see `LocalWriter`)."""

    def _failed(self, error: OSError) -> NoReturn:
        """A full disk becomes 507 with a sentence; either way nothing partial is kept."""
        self.abort()
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage(DISK_FULL) from error
        raise error

    def _hashed(self, expect: str | None) -> str:
        """The content's hash; content announced under another is dropped (BlobError)."""
        assert self._file is not None
        digest = self._hash.hexdigest()
        if expect is not None and digest != expect:
            self.abort()
            raise BlobError(f"content announced as {expect} hashes to {digest}")
        return digest

    def abort(self) -> None:
        """Forget what was written: nothing partial stays on disk."""
        if self._file is not None:
            with contextlib.suppress(OSError):  # a buffer a full disk refused: dropped anyway
                self._file.close()
            self._file = None
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.digest is None:
            self.abort()

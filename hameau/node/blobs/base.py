"""The blob store's interface, its errors and the choice of a backend (see the package).

Here rather than in the package's `__init__`, so that a backend imports the interface
without importing the package that names the backends."""

from __future__ import annotations

import hashlib
import importlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol

HASH_NAME = "sha256"
CHUNK = 1 << 20
# Content up to this size is hashed whole before a byte of it is sent (a ranged read too).
VERIFY_FIRST = 16 << 20
QUARANTINE_DAYS = 30

# The `blob_store` setting's values, each naming its backend's class.
BACKENDS = {
    "local": "hameau.node.blobs.local:LocalBlobStore",
    "s3": "hameau.node.blobs.s3:S3BlobStore",  # s3://bucket/prefix, with the s3_* settings
}


class BlobError(Exception):
    """The blob store could not store or find some content."""


class BlobDamaged(BlobError):
    """Stored content is missing, or its bytes no longer hash to its name."""

    def __init__(self, digest: str, reason: str) -> None:
        super().__init__(f"blob {digest} is {reason}")
        self.digest = digest
        self.reason = reason  # "missing" or "damaged"


_DIGEST = re.compile("[0-9a-f]{64}")


def is_digest(text: str) -> bool:
    """A SHA-256 in lower-case hex (asked of every content named: a pattern, not a loop)."""
    return _DIGEST.fullmatch(text) is not None


def hash_file(handle: BinaryIO, between: Callable[[], None] | None = None) -> str:
    """The SHA-256 of an open file from its start; ``between`` is called after each MiB (a
    scrub sleeps there, to stay gentle, and raises there to stop)."""
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
        if between is not None:
            between()
    return digest.hexdigest()


@dataclass(frozen=True)
class BlobInfo:
    """What the store holds under a name: its size, and which copy it is (``copy`` is opaque:
    passed back to `quarantine`, it moves aside that copy only, not a good one written since)."""

    size: int
    copy: Any


class BlobWriter(Protocol):
    """Content streaming in; `commit()` makes it durable and returns its hash."""

    size: int
    digest: str | None

    def write(self, chunk: bytes) -> None: ...

    def commit(self, expect: str | None = None, later: bool = False) -> str:
        """Durable under its hash (with ``expect``, refused unless it hashes so; with
        ``later``, only hashed: `BlobStore.settle` makes a batch durable together)."""
        ...

    def abort(self) -> None: ...

    def __enter__(self) -> BlobWriter: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...


class BlobReader(Protocol):
    """Stored content, read from its start and hashed as it goes (see `open_verified`)."""

    size: int

    def read(self, size: int = -1) -> bytes: ...

    def seek(self, offset: int, whence: int = 0) -> int: ...

    def tell(self) -> int: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...


class BlobStore(ABC):
    """The interface every backend implements; see the module's docstring."""

    # The node's `Outages` (node/outages.py), where a store that can be down (S3) notes it.
    outages: Any = None

    @abstractmethod
    def writer(self, settled: bool = False) -> BlobWriter:
        """A new write; ``settled``: it will be committed with ``later`` and made durable with
        others by `settle` (the local disk then writes it through the page cache, and leaves a
        small one's writeback to that sync)."""

    def put(self, data: bytes) -> str:
        with self.writer() as writer:
            writer.write(data)
            return writer.commit()

    @abstractmethod
    def info(self, digest: str) -> BlobInfo | None:
        """Its size and copy, or None if the store does not hold it."""

    def exists(self, digest: str) -> bool:
        return self.info(digest) is not None

    def size(self, digest: str) -> int | None:
        found = self.info(digest)
        return None if found is None else found.size

    @abstractmethod
    def read(self, digest: str) -> bytes:
        """The whole content, unchecked (for small text that is indexed); BlobError if absent."""

    @abstractmethod
    def open_verified(self, digest: str) -> BlobReader:
        """A reader that refuses the last bytes of damaged content (`BlobDamaged`)."""

    def open_unchecked(self, digest: str) -> BinaryIO:
        """Stored content as it is, for a reader that hashes it itself (a move's receiver
        checks each content against its name); BlobError if absent."""
        return self.open_verified(digest)  # type: ignore[return-value]

    @abstractmethod
    def verify(self, digest: str, between: Callable[[], None] | None = None) -> str | None:
        """None if the content is there and hashes to its name, else "missing" or "damaged"."""

    @abstractmethod
    def ensure_sound(self, digest: str, size: int) -> BlobInfo:
        """Before serving content recorded with ``size``: raises `BlobDamaged` if it is missing
        or found damaged (then quarantined); returns what is stored."""

    @abstractmethod
    def stored(self) -> Iterable[str]:
        """The names of every blob held (not the quarantine)."""

    def listing(self) -> Iterable[tuple[str, int]]:
        """Every blob held, with its size (a backend that lists sizes with names says so)."""
        for digest in self.stored():
            size = self.size(digest)
            if size is not None:
                yield digest, size

    @abstractmethod
    def settle(self, writers: list[BlobWriter]) -> None:
        """Make writes committed with ``later`` durable, together."""

    def settle_small(self, writers: list[BlobWriter]) -> None:
        """`settle` for a small group (the small writes of the moment): each file and folder
        synced rather than the whole filesystem; the same guarantee."""
        self.settle(writers)

    @abstractmethod
    def clear_temp(self) -> int:
        """Drop what writes cut short left behind (a crash, a kill -9); returns how many."""

    # Purging for good, in two steps so the database's transaction decides (files.purge).
    @abstractmethod
    def set_aside(self, digest: str) -> int | None:
        """Take content out of the store, recoverably; its size, or None if it was not there."""

    @abstractmethod
    def put_back(self, digest: str) -> None:
        """Undo `set_aside` (the purge rolled back); content written meanwhile stays."""

    @abstractmethod
    def drop_aside(self, digest: str) -> None:
        """Forget for good what `set_aside` took (the purge is committed)."""

    @abstractmethod
    def put_back_cut_short(self) -> int:
        """`put_back` all that is still set aside: only when no purge is in flight (its
        process died before its transaction ended, so the rows refer to it again)."""

    # The quarantine: damaged and unreferenced content, kept until purged.
    @abstractmethod
    def quarantine(self, digest: str, reason: str, only: Any = None) -> str | None:
        """Move content aside (``only``: if the store still holds that `BlobInfo.copy`);
        where it went, or None if it was not moved."""

    @abstractmethod
    def quarantined(self) -> list[tuple[str, datetime]]:
        """What the quarantine holds (each item's name there), with when it went there,
        oldest first."""

    @abstractmethod
    def quarantine_size(self) -> int: ...

    @abstractmethod
    def purge_quarantine(self, older_than: timedelta | None = None) -> tuple[int, int]:
        """Delete what the quarantine holds (older than ``older_than``); files and bytes."""

    # Where the content is, as told to an admin, and whether it is the store it was.
    @property
    @abstractmethod
    def location(self) -> str:
        """The folder or bucket, in words for an admin."""

    @property
    def quarantine_location(self) -> str:
        return self.location

    def local_folder(self) -> Path | None:
        """The local folder whose disk holds the content (for disk-space gauges), if any."""
        return None

    @abstractmethod
    def has_marker(self) -> bool:
        """Whether the store holds the marker that says it is this node's store."""

    @abstractmethod
    def write_marker(self) -> None: ...


def load_store(kind: str, folder: Path, settings: Any = None) -> BlobStore:
    """The backend the `blob_store` setting names; ``folder`` is the data dir's blobs/ (an
    S3 store spools writes there); ``settings`` give an S3 store its endpoint and keys."""
    scheme = "s3" if kind.startswith("s3://") else kind
    if scheme not in BACKENDS or kind == "s3":
        raise ValueError("blob_store must be one of: local, s3://bucket/prefix")
    if scheme == "s3" and settings is None:
        raise ValueError("an S3 blob store needs the s3_* settings (endpoint, keys)")
    module_name, _, name = BACKENDS[scheme].partition(":")
    backend: Any = getattr(importlib.import_module(module_name), name)  # imported when chosen
    return backend(folder) if scheme == "local" else backend(kind, folder, settings)

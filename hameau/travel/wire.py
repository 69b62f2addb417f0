"""Many blobs in one HTTP body, both ways: each is a line `<sha256> <size>\\n` then its bytes.

The receiving side writes each blob through the blob store (temp file, hash, fsync, rename)
and keeps it only if its bytes hash to the announced name: a cut-off or forged body leaves
nothing behind but the blobs that arrived whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from hameau.node.blobs import BlobDamaged, BlobError, BlobStore, BlobWriter

HEADER_MAX = 100
READ = 1 << 20
SETTLE_EVERY = 2000  # blobs made durable together (two filesystem syncs per batch)
_DIGEST = re.compile("[0-9a-f]{64}")  # a SHA-256 in lower-case hex


class WireError(Exception):
    """The stream of blobs is malformed, cut off, or carries content that is not what it says."""


def is_digest(text: str) -> bool:
    return _DIGEST.fullmatch(text) is not None


def send(store: BlobStore, digests: Iterable[str]) -> Iterator[bytes]:
    """The body carrying these blobs (read from the store 1 MiB at a time), each hashed as it
    is read: a damaged one is quarantined and the body cut before its last bytes
    (`BlobDamaged` raised), so damaged content never leaves the node.

    Small blobs go out together, in pieces of about 1 MiB: each piece the server sends is a
    hop to a worker thread, and a re-sync is mostly small files."""
    pending = bytearray()
    for digest in digests:
        try:
            with store.open_verified(digest) as reader:
                pending += f"{digest} {reader.size}\n".encode()
                while chunk := reader.read(READ):
                    pending += chunk
                    if len(pending) >= READ:
                        yield bytes(pending)
                        pending.clear()
        except BlobDamaged:  # its last read was refused: what came before still goes, cut
            yield bytes(pending)
            raise
    if pending:
        yield bytes(pending)


class Receiver:
    """Fed the body chunk by chunk; stores each blob as it completes.

    ``allowed`` limits which digests may arrive; ``limit`` the total bytes kept: a blob that
    would pass it is read and dropped (listed in ``refused``), and the ones after it that
    fit are still kept."""

    def __init__(
        self, store: BlobStore, allowed: set[str] | None = None, limit: int | None = None
    ) -> None:
        self.store = store
        self.allowed = allowed
        self.limit = limit
        self.stored: list[str] = []
        self.refused: list[str] = []
        self.total = 0  # bytes received
        self.kept = 0  # bytes kept
        self._dropping = False
        self._header = b""
        self._writer: BlobWriter | None = None
        self._digest = ""
        self._left = 0
        self._pending: list[BlobWriter] = []  # verified, made durable together at the end

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            if self._writer is None:
                newline = bytes(view[: HEADER_MAX + 1]).find(b"\n")
                if newline < 0:
                    self._header += bytes(view)
                    if len(self._header) > HEADER_MAX:
                        raise WireError("the header of a content is too long")
                    return
                self._start(self._header + bytes(view[:newline]))
                self._header = b""
                view = view[newline + 1 :]
                if self._left == 0:
                    self._finish()
                continue
            part = view[: self._left]
            if not self._dropping:
                self._writer.write(bytes(part))
            self._left -= len(part)
            view = view[len(part) :]
            if self._left == 0:
                self._finish()

    def _start(self, header: bytes) -> None:
        try:
            digest, size_text = header.decode("ascii").split(" ")
            size = int(size_text)
        except (UnicodeDecodeError, ValueError):
            raise WireError("the header of a content is malformed") from None
        if not is_digest(digest) or size < 0:
            raise WireError("the header of a content is malformed")
        if self.allowed is not None and digest not in self.allowed:
            raise WireError(f"the content {digest} was not asked for")
        self.total += size
        self._digest, self._left = digest, size
        self._writer = self.store.writer()
        self._dropping = self.limit is not None and self.kept + size > self.limit
        if not self._dropping:
            self.kept += size

    def _finish(self) -> None:
        assert self._writer is not None
        writer, self._writer = self._writer, None
        if self._dropping:
            writer.abort()
            self.refused.append(self._digest)
            return
        try:
            writer.commit(expect=self._digest, later=True)
        except BlobError as error:
            raise WireError(str(error)) from None
        self._pending.append(writer)
        if len(self._pending) >= SETTLE_EVERY:
            self._settle()

    def _settle(self) -> None:
        self.store.settle(self._pending)
        self.stored += [writer.digest for writer in self._pending if writer.digest]
        self._pending = []

    def close(self) -> None:
        """The body ended: what arrived whole is made durable; a cut-off blob is dropped."""
        try:
            if self._writer is not None:
                self._writer.abort()
                self._writer = None
                raise WireError("the body was cut off in the middle of a content")
            if self._header:
                raise WireError("the body was cut off in the header of a content")
        finally:
            self._settle()

    def abort(self) -> None:
        """Something went wrong: keep what was already verified (made durable), drop the rest."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        self._settle()

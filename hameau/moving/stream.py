"""A move's contents as one stream per batch of many MiB, signed by its index.

    body    = index line, b"\\n", then each record's bytes, in the index's order
    index   = {"items": [[sha256, offset, total], ...]}: a record carries the bytes of its
              content from ``offset`` to ``total`` (from 0 unless the receiver holds the
              first bytes of it already, from a stream cut short)

The request's signature covers the digest of the index line (header `Hameau-Index-Digest`,
hamlet/signing.py), not of the whole body: each record is bound by its content's own hash,
computed once as it arrives; a record that does not hash to its name is refused and nothing
of it is kept. The records that were whole and verified are made durable together (one sync
of the filesystem for a batch, hameau/node/blobs `settle`) before the answer says so; a
stream cut short keeps those, and the bytes of the record it was in, to go on from.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from hameau.moving.ahead import HELD, WritersAhead
from hameau.moving.errors import MoveConflict, PieceRefused
from hameau.node import json_input
from hameau.node.blobs import BlobError, BlobWriter, is_digest
from hameau.node.datadir import Node

BATCH = 256 << 20  # bytes of content per signed stream by default (setting move_stream_mb)
MOST_ITEMS = 10_000  # records per stream
INDEX_LIMIT = 2 << 20  # bytes of an index line
CHUNK = 1 << 20
SEND_CHUNK = 4 << 20  # bytes read at a time for sending: fewer hand-overs between threads

Item = list[Any]  # [sha256, offset, total]
Opener = Callable[[str], BinaryIO]


def index_digest(line: bytes) -> str:
    """The index line's digest, as the signed header carries it (RFC 9530's form)."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(line).digest()).decode()}:"


def index_line(items: list[Item]) -> bytes:
    return json.dumps({"items": items}, separators=(",", ":")).encode()


def batches(
    lacking: dict[str, int], sizes: dict[str, int], most: int = BATCH
) -> Iterator[list[Item]]:
    """The lacking contents (each from the bytes the receiver has of it) in streams of at
    most ``most`` bytes and MOST_ITEMS records; a content larger than that goes alone."""
    batch: list[Item] = []
    held = 0
    for digest in sorted(lacking):
        item: Item = [digest, lacking[digest], sizes[digest]]
        length = sizes[digest] - lacking[digest]
        if batch and (held + length > most or len(batch) >= MOST_ITEMS):
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += length
    if batch:
        yield batch


def length(items: list[Item]) -> int:
    return sum(total - offset for _digest, offset, total in items)


def _records(items: list[Item], opener: Opener) -> Iterator[bytes]:
    for digest, offset, total in items:
        with opener(digest) as source:
            source.seek(offset)
            left = total - offset
            while left:
                chunk = source.read(min(SEND_CHUNK, left))
                if not chunk:
                    raise MoveConflict(
                        "A file's content (%(hash)s…) is shorter at this home than recorded,"
                        " so the move stopped: run `hameau check --repair`, then move again.",
                        hash=digest[:12],
                    )
                left -= len(chunk)
                yield chunk


def body(items: list[Item], opener: Opener) -> Iterator[bytes]:
    """The stream's bytes: the index line, then each record read from ``opener``, the next
    chunk read in a thread while this one is sent (not hashed here: the receiver hashes
    each record, and a refusal has the sender check its copy, transfer._sound)."""
    yield index_line(items) + b"\n"
    records = _records(items, opener)
    with ThreadPoolExecutor(1, thread_name_prefix="move-read") as reader:
        pending = reader.submit(next, records, None)
        while (chunk := pending.result()) is not None:
            pending = reader.submit(next, records, None)
            yield chunk


def parse_index(line: bytes, signed: str | None) -> list[Item]:
    """The index of a stream, if it is the one its signature covers and well formed."""
    if signed is None or index_digest(line) != signed:
        raise PieceRefused("This stream's index is not the one its signature covers.")
    try:
        items = json_input.loads(line)["items"]
        if not isinstance(items, list) or len(items) > MOST_ITEMS:
            raise ValueError("items")
        for sha, offset, total in items:
            if not is_digest(sha) or not isinstance(offset, int) or not isinstance(total, int):
                raise ValueError("item")
            if not 0 <= offset <= total:
                raise ValueError("item")
    except (ValueError, TypeError, KeyError):
        raise PieceRefused(
            "These pieces of content are not described as a move sends them."
        ) from None
    return items  # type: ignore[no-any-return]


def partial_path(node: Node, move_id: str, digest: str) -> Path:
    return node.layout.root / "moving" / move_id / f"{digest}.part"


def refused(digest: str) -> PieceRefused:
    return PieceRefused(
        "A piece of content does not hash to its name (%(hash)s…); it was not stored: send"
        " it again.",
        hash=digest[:12],
    )


class Arrival:
    """One stream's records, written to the blob store as their bytes arrive (``feed``),
    each hashed once; `finish` makes the verified ones durable together."""

    def __init__(self, node: Node, move_id: str, items: list[Item]) -> None:
        self.node, self.move_id, self.items = node, move_id, items
        self.at = -1  # the record the bytes go to
        self.left = 0  # its bytes still to come
        self.writer: BlobWriter | None = None  # None while a record already stored is skipped
        self.whole: list[BlobWriter] = []
        self.received = 0
        self.verified = 0  # records made durable
        self.ahead = WritersAhead(node.blobs, items)

    def _next(self) -> None:
        """The next record starts (a zero-length one ends at once)."""
        self.at += 1
        if self.at >= len(self.items):
            raise PieceRefused("These pieces of content are longer than their index says.")
        digest, offset, total = self.items[self.at]
        self.left = total - offset
        made = self.ahead.take()
        self.writer = None if made == HELD else self._open(digest, offset, made)
        if self.left == 0:
            self._end()

    def _open(self, digest: str, offset: int, made: BlobWriter | str) -> BlobWriter:
        if offset == 0:
            assert not isinstance(made, str)
            return made
        writer = self.node.blobs.writer(settled=True)
        partial = partial_path(self.node, self.move_id, digest)
        have = partial.stat().st_size if partial.exists() else 0
        if offset != have:
            writer.abort()
            raise PieceRefused("A piece of content came before the one it follows; send it again.")
        with partial.open("rb") as source:  # its first bytes, hashed and written once more
            while block := source.read(CHUNK):
                writer.write(block)
        return writer

    def _end(self) -> None:
        digest, offset, _total = self.items[self.at]
        writer, self.writer, self.left = self.writer, None, 0
        if writer is None:
            return
        partial = partial_path(self.node, self.move_id, digest)
        try:
            writer.commit(expect=digest, later=True)
        except BlobError:
            partial.unlink(missing_ok=True)
            raise refused(digest) from None
        if offset:  # its first bytes are in the writer now
            partial.unlink(missing_ok=True)
        self.whole.append(writer)

    def feed(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        self.received += len(view)
        while view:
            if self.left == 0:
                self._next()
                continue
            take = min(self.left, len(view))
            if self.writer is not None:
                self.writer.write(view[:take])  # type: ignore[arg-type]
            self.left -= take
            view = view[take:]
            if self.left == 0:
                self._end()

    def finish(self) -> int:
        """The stream ended: every record whole, the verified ones made durable; returns how
        many. A stream cut short keeps what came (see `cut`), then is refused."""
        while self.left == 0 and self.at + 1 < len(self.items):
            _digest, offset, total = self.items[self.at + 1]
            if total - offset:
                break
            self._next()
        if self.left or self.at + 1 < len(self.items):
            self.cut()
            raise PieceRefused("These pieces of content are not as long as their index says.")
        return self.settle()

    def settle(self) -> int:
        """The verified records, durable and in place; returns how many."""
        self.ahead.close()  # the stream has ended: no more records to write
        count = len(self.whole)
        try:
            self.node.blobs.settle(self.whole)
        except BaseException:
            self.abort()
            raise
        self.whole = []
        self.verified += count
        return count

    def cut(self) -> int:
        """The stream stopped early (a kill, the link, a refusal): the whole records are
        kept, and the bytes of the one it was in, for the sender to go on from."""
        writer, self.writer = self.writer, None
        if writer is not None:
            keep = getattr(writer, "keep", None)
            partial = partial_path(self.node, self.move_id, self.items[self.at][0])
            try:
                partial.parent.mkdir(parents=True, exist_ok=True)
                if keep is None:
                    raise OSError("this store keeps no partial content")
                keep(partial)
            except OSError:
                writer.abort()
        return self.settle()

    def abort(self) -> None:
        self.ahead.close()
        for writer in [*self.whole, *([self.writer] if self.writer else [])]:
            writer.abort()
        self.whole, self.writer = [], None

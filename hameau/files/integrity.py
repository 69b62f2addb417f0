"""Damaged content, as every door of the files sees it.

Content found damaged (its bytes no longer hash to its name) is moved to the blob store's
quarantine at once, so "damaged" is simply "its content is not in the store": the pages mark
such a file, a download answers 409 with a sentence, its earlier versions can be restored,
and writing the same bytes again (any door, or a satellite's sync) repairs it. There is no
second record of the damage that could drift from the store.

Reads: a full read is hashed as it streams and cut before its last bytes on a mismatch; a
ranged read is refused when the content is missing or its size differs from the recorded
one, and, for content up to `blobs.VERIFY_FIRST`, when it does not hash to its name. A
ranged read of larger content is served after the size check (hashing gigabytes for every
seek of a video would cost too much); the weekly scrub and any full read catch it.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from starlette import responses
from starlette.datastructures import Headers
from starlette.responses import FileResponse
from starlette.types import Send

from hameau.errors import BadRequest, Conflict, RangeNotSatisfiable
from hameau.files.models import FileEntry
from hameau.node.blobs import BlobDamaged, BlobStore

log = logging.getLogger("hameau.files")


def damaged_error() -> Conflict:
    return Conflict(
        "This file is damaged on the home server: its stored content is missing or no longer what "
        "was saved. Restore an earlier version from its page, or upload it again."
    )


def range_unreadable() -> BadRequest:
    return BadRequest("This Range header cannot be read; ask for bytes as in 'bytes=0-99'.")


def range_past_the_end(size: int) -> RangeNotSatisfiable:
    """RFC 9110 (15.5.17): a 416 says the file's size in `Content-Range: bytes */SIZE`."""
    return RangeNotSatisfiable(
        "This range starts past the end of the file, which has %(size)s bytes.",
        headers={"Content-Range": f"bytes */{size}"},
        size=size,
    )


def is_damaged(store: BlobStore, digest: str | None) -> bool:
    return digest is not None and not store.exists(digest)


def damaged_ids(store: BlobStore, entries: Iterable[Any]) -> set[int]:
    """The ids of those entries (files or versions) whose content is damaged."""
    return {
        item.id for item in entries if getattr(item, "blob", None) and is_damaged(store, item.blob)
    }


def report(digest: str, reason: str) -> None:
    if reason == "damaged":
        log.warning("Content %s is damaged: moved to the quarantine, not served.", digest)
    else:
        log.warning("Content %s is missing from the store: not served.", digest)


def check_before_serving(store: BlobStore, entry: FileEntry) -> os.stat_result:
    """Refuse (409) a file whose content is missing or found damaged; returns what Starlette
    wants to know of it (its size; its time is the entry's, wherever the store keeps it)."""
    assert entry.blob is not None
    try:
        found = store.ensure_sound(entry.blob, entry.size)
    except BlobDamaged as error:
        report(entry.blob, error.reason)
        raise damaged_error() from None
    when = entry.modified_at.timestamp()
    return os.stat_result((stat.S_IFREG | 0o600, 0, 0, 1, 0, 0, found.size, when, when, when))


class VerifiedBlobResponse(FileResponse):
    """A stored file with Range support, whose full reads are hashed as they stream: on a
    mismatch the content is quarantined and the connection is cut before the last bytes, so
    the client sees an error, never a whole wrong file."""

    chunk_size = 1 << 20  # 1 MiB reads: 16 times fewer thread hops than Starlette's 64 KiB

    def __init__(self, store: BlobStore, digest: str, **options: Any) -> None:
        super().__init__(digest, **options)  # a name, not a path: read through the store
        self.store, self.digest = store, digest

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        """Ranged reads go through the store too (a seek elsewhere than the start turns
        hashing off; `check_before_serving` checked the content first)."""
        reader = await anyio.to_thread.run_sync(self.store.open_verified, self.digest)
        file: anyio.AsyncFile[bytes] = anyio.wrap_file(reader)  # type: ignore[arg-type]
        try:
            yield file
        finally:
            with anyio.CancelScope(shield=True):  # closing must finish even when cancelled
                await file.aclose()

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        """Starlette's parsing, plus two rules of RFC 9110 (14.2) it lacks: a unit other than
        bytes is ignored (the whole file is sent), and ranges past the end are left out when
        another one can be served (416 only when none can)."""
        unit, _, specs = http_range.partition("=")
        if unit.strip().lower() != "bytes":
            return []
        parts = specs.split(",")
        if len(parts) > cls.max_ranges:
            return []  # Starlette's rule: so many ranges are answered with the whole file
        inside = [
            part
            for part in parts
            if all(0 <= start < file_size for start, _ in cls._parse_ranges(part, file_size))
        ]
        if len(inside) < len(parts) and cls._parse_ranges(",".join(inside), file_size):
            specs = ",".join(inside)
        return super()._parse_range_header(f"bytes={specs}", file_size)

    def check_range(self, headers: Headers, size: int) -> None:
        """Refuse a malformed (400) or unsatisfiable (416) Range in the node's words, before
        Starlette would answer it in plain text (or with an empty body)."""
        http_range, if_range = headers.get("range"), headers.get("if-range")
        if http_range is None or (if_range is not None and not self._should_use_range(if_range)):
            return
        try:
            self._parse_range_header(http_range, size)
        except responses.MalformedRangeHeader:
            raise range_unreadable() from None
        except responses.RangeNotSatisfiable:
            raise range_past_the_end(size) from None

    async def _handle_simple(self, send: Send, send_header_only: bool, send_pathsend: bool) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})  # fmt: skip
        if send_header_only:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        reader = await anyio.to_thread.run_sync(self.store.open_verified, self.digest)
        try:
            while True:
                try:
                    chunk = await anyio.to_thread.run_sync(reader.read, self.chunk_size)
                except BlobDamaged as damage:
                    report(self.digest, damage.reason)
                    raise  # the response is under way: only cutting it tells the client
                more = reader.tell() < reader.size
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    return
        finally:
            reader.close()


async def download(store: BlobStore, entry: FileEntry, headers: Headers) -> VerifiedBlobResponse:
    """The file's content as an attachment (a stored HTML file never runs as a page); a Range
    in the request's ``headers`` that cannot be served is refused with a sentence."""
    assert entry.blob is not None
    stat = await anyio.to_thread.run_sync(check_before_serving, store, entry)
    response = VerifiedBlobResponse(
        store, entry.blob, media_type=entry.content_type, filename=entry.name, stat_result=stat,
        headers={"Cache-Control": "private, no-cache"},
    )  # fmt: skip
    response.check_range(headers, stat.st_size)
    return response

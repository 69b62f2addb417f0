"""Reads of an HTTPS connection decrypted into one reused buffer.

uvloop hands an `asyncio.Protocol` what it decrypts by asking OpenSSL for up to 256 KiB at a
time into a new `bytes` for each TLS record (16 KiB): a 256 KiB allocation, then a shrink,
per record, which made a peer's stream into this node (a member moving here, a backup) cost
about three times the CPU of the same bytes over plain HTTP (docs/benchmarks.md, "Moving
home, round 3"). A protocol that is not an `asyncio.Protocol` but has `get_buffer` gets the
decrypted bytes written into its own buffer instead. `BufferedReads` is such a protocol in
front of the node's HTTP protocol: it copies what came into one `bytes` of its exact size and
passes it on, so the HTTP protocol sees what it always saw. The connections of one event loop
share one buffer (one per thread): uvloop fills it and calls `buffer_updated` in one go on the
loop's thread, and what came is copied out before any other connection reads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

SIZE = 256 << 10  # what uvloop asks OpenSSL for at most in one read
_local = threading.local()  # `buffer`: the one of this thread's event loop, made on first use


class BufferedReads(asyncio.BufferedProtocol):
    """``inner``, an `asyncio.Protocol`, fed from the buffer its event loop's connections
    share."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner

    def get_buffer(self, sizehint: int) -> memoryview:
        buffer = getattr(_local, "buffer", None)
        if buffer is None:
            buffer = _local.buffer = memoryview(bytearray(SIZE))
        return buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.inner.data_received(bytes(_local.buffer[:nbytes]))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def buffered(protocol: Callable[..., asyncio.Protocol]) -> Callable[..., BufferedReads]:
    """A protocol factory making ``protocol``'s connections behind `BufferedReads`."""

    def make(**arguments: Any) -> BufferedReads:
        return BufferedReads(protocol(**arguments))

    return make

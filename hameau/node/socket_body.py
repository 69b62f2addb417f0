"""A large request body read straight from the socket by a worker thread, past uvicorn.

uvicorn hands a body to the app in pieces of at most 64 KiB, each taken off the socket by the
event loop, fed to its parser, appended to a `bytearray` and copied into a `bytes` for the
app: about 1.2 s of CPU per GiB in Python before the content is hashed and written. For a
request with a Content-Length of at least `LARGE` (never chunked, never over TLS), the
node's protocol (`serve.GuardedHttp`) offers a `SocketBody` in the scope's extensions under
`EXTENSION`. An app that takes it gets what uvicorn already buffered, then the protocol stops
reading the connection and a thread reads the rest from a duplicate of the socket's descriptor
into a small ring of reused buffers, exactly Content-Length bytes and never one more, while a
worker thread hands the pieces already in to the app's `write` (the blob store's writer hashes
a large piece on a third thread while it writes it: recv, SHA-256 and write each release the
GIL, so the three overlap on two cores; nothing is copied in Python). The answer then closes
the connection, so uvicorn's parser, which still waits for those bytes, never sees another
byte of it: a request sent right behind the body is neither taken as body nor run.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import queue
import socket
import threading
from collections.abc import Callable, MutableMapping
from typing import Any

import anyio
import anyio.to_thread

EXTENSION = "hameau.body_from_socket"
LARGE = 1 << 20  # smaller bodies keep uvicorn's path, and their kept-alive connection
PIECE = 1 << 20  # the pieces hashed and written
RING = 4  # buffers per upload, reused: one filled from the socket while others are written
AT_ONCE = 16  # uploads read this way at once (a ring and two threads each); others: uvicorn's
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
Write = Callable[[memoryview], object]


class BodyCut(Exception):
    """The client closed or reset the connection before the end of the body."""


class BodyTimedOut(Exception):
    """No byte of the body came for the node's body timeout."""


class SocketBody:
    """One request's offer, made by the protocol when its headers are in (see the module)."""

    def __init__(self, protocol: Any, declared: int, timeout: float) -> None:
        self.protocol, self.cycle = protocol, protocol.cycle
        self.declared, self.timeout = declared, timeout
        self.parsed = 0  # body bytes uvicorn's parser took off the socket (`on_body`)
        self.taken = False

    def usable(self) -> bool:
        """Whether the body can still be handed over: nobody has received any of it, the
        request is the connection's current one and nothing was answered yet."""
        cycle, protocol = self.cycle, self.protocol
        return (
            not self.taken
            and cycle is protocol.cycle
            and not cycle.response_started
            and not cycle.disconnected
            and not protocol.transport.is_closing()
            and len(cycle.body) == self.parsed  # else a receive() took part of it already
            and len(protocol.socket_readers) < AT_ONCE
        )

    async def into(self, write: Write) -> bool:
        """The whole body through ``write``; False (nothing read) when it cannot be handed
        over, and the app reads it with `receive` as usual. Raises BodyCut or BodyTimedOut
        (nothing more is read: the answer closes the connection), or what ``write`` raised."""
        if not self.usable():
            return False
        self.taken = True
        cycle, protocol = self.cycle, self.protocol
        descriptor = protocol.transport.get_extra_info("socket").fileno()
        if cycle.waiting_for_100_continue:  # what uvicorn's receive() does first
            protocol.transport.write(CONTINUE)
            cycle.waiting_for_100_continue = False
        buffered, cycle.body = cycle.body, bytearray()
        remaining = self.declared - self.parsed
        cycle.more_body = False  # a later receive() gets an empty end, never socket bytes
        if remaining:
            protocol.hold_reading()  # uvicorn reads none of the rest, ever
            cycle.keep_alive = False  # the answer says `Connection: close` and closes
        protocol.socket_readers.add(self)
        try:
            await anyio.to_thread.run_sync(
                read, descriptor, buffered, remaining, write, self.timeout
            )
        except BodyCut:
            cycle.disconnected = True  # nobody to answer: the app's answer goes nowhere
            protocol.transport.close()
            raise
        finally:
            protocol.socket_readers.discard(self)
        return True


def offered(scope: MutableMapping[str, Any]) -> SocketBody | None:
    """The request's offer, if its body may be read from the socket."""
    body = scope.get("extensions", {}).get(EXTENSION)
    return body if isinstance(body, SocketBody) and body.usable() else None


def read(
    descriptor: int, buffered: bytearray, remaining: int, write: Write, timeout: float
) -> None:
    """In a worker thread: what uvicorn buffered, then exactly ``remaining`` bytes from a
    duplicate of the (non-blocking) socket, each recv waiting at most ``timeout`` seconds.
    A second thread receives into a ring of `RING` buffers while this one hands the pieces
    already in to ``write`` (socket reads beside hashing and writing: each releases the GIL).
    What uvicorn buffered starts the ring's first buffer, so that every piece but the last
    is a whole buffer, page-aligned: the local store writes those past the page cache."""
    if not remaining:
        if buffered:
            write(memoryview(buffered))
        return
    if len(buffered) >= PIECE:
        write(memoryview(buffered))
        buffered = bytearray()
    with socket.socket(fileno=os.dup(descriptor)) as sock, mmap.mmap(-1, PIECE * RING) as buffer:
        sock.settimeout(timeout)  # poll() then recv; the descriptor stays non-blocking
        ring = _Ring(sock, buffer, remaining, bytes(buffered))
        receiver = threading.Thread(target=ring.receive, name="socket-body", daemon=True)
        receiver.start()
        try:
            ring.hand_over(write)
        finally:
            ring.stop()
            receiver.join()
            ring.release()


class _Ring:
    """`RING` buffers of `PIECE` bytes, passed between the receiving thread (`receive`) and
    the one calling ``write`` (`hand_over`) by two queues: free buffers, and filled ones."""

    def __init__(self, sock: socket.socket, buffer: mmap.mmap, remaining: int, head: bytes) -> None:
        self.sock, self.remaining, self.total = sock, remaining, remaining + len(head)
        self.head = head  # what uvicorn buffered: the first buffer starts with it
        whole = memoryview(buffer)
        self.views = [whole[index * PIECE : (index + 1) * PIECE] for index in range(RING)]
        whole.release()
        self.free: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self.filled: queue.SimpleQueue[tuple[int, int] | BaseException] = queue.SimpleQueue()
        for index in range(RING):
            self.free.put(index)
        self.stopped = False

    def receive(self) -> None:
        """In the receiving thread: fill free buffers from the socket, up to the body's end."""
        try:
            start = len(self.head)
            while self.remaining:
                index = self.free.get()
                if index is None or self.stopped:
                    return
                view, count = self.views[index], start
                view[:start] = self.head[:start]
                wanted = min(PIECE, start + self.remaining)
                while count < wanted:
                    count += _received(self.sock, view[count:wanted])
                self.remaining -= count - start
                self.filled.put((index, count))
                start = 0
        except BaseException as error:  # BodyCut, BodyTimedOut: raised by `hand_over`
            self.filled.put(error)

    def hand_over(self, write: Write) -> None:
        """Each filled buffer through ``write``, in order, then back to the free ones."""
        left = self.total
        while left:
            item = self.filled.get()
            if isinstance(item, BaseException):
                raise item
            index, count = item
            piece = self.views[index][:count]
            try:
                write(piece)
            finally:
                piece.release()
            self.free.put(index)
            left -= count

    def stop(self) -> None:
        """Make the receiving thread return: past a `write` that raised, it may be waiting for
        a free buffer or for the client; the connection is not read again (it is closed after
        the answer), so shutting its reading side down wakes a recv that waits."""
        if self.remaining and not self.stopped:
            self.stopped = True
            self.free.put(None)
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RD)

    def release(self) -> None:
        for view in self.views:
            view.release()


def _received(sock: socket.socket, into: memoryview) -> int:
    try:
        count = sock.recv_into(into)
    except TimeoutError:
        raise BodyTimedOut from None
    except OSError as error:  # reset by the client
        raise BodyCut from error
    finally:
        into.release()
    if count == 0:
        raise BodyCut
    return count

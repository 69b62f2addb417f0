"""Serving the node with uvicorn: started in one process, quiet when idle, guarded against
slow clients, and with no secret in its logs."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import http
import logging
import os
import re
import resource
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Any

import uvicorn
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hameau.node.socket_body import EXTENSION, LARGE, SocketBody
from hameau.node.tls_reads import buffered

# Query parameters that carry credentials; their values never reach a log.
_SECRET_PARAMS = re.compile(r"(?i)([?&](?:device|code|csrf_token|token|password)=)[^&\s\"]*")


def redacted(text: str) -> str:
    return _SECRET_PARAMS.sub(r"\1[redacted]", text) if "=" in text else text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redacted(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


class AccessLine:
    """uvicorn's access log line, written by the node without the logging machinery (its
    record, filter, a copy of the record to format it, a flush per line: a sixth of a
    small WebDAV PUT's CPU, docs/benchmarks.md "round 7"). The same line on the same stream
    as uvicorn's own handler (`INFO:     127.0.0.1:5555 - "PUT /dav/… HTTP/1.1" 201
    Created`), secrets in addresses redacted; the lines of one turn of the event loop are
    flushed together at its end. Only in uvicorn's default configuration (one stream
    handler, its access formatter, no colours); otherwise the logger itself is kept."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.flushing = False
        self.phrases: dict[int, str] = {}

    @classmethod
    def replacing(cls, logger: logging.Logger) -> AccessLine | None:
        from uvicorn.logging import AccessFormatter

        handlers = logger.handlers
        if len(handlers) != 1 or type(handlers[0]) is not logging.StreamHandler:
            return None
        if handlers[0].filters or any(type(each) is not RedactSecrets for each in logger.filters):
            return None
        formatter = handlers[0].formatter
        if type(formatter) is not AccessFormatter or formatter.use_colors:
            return None
        if formatter._fmt != ACCESS_FORMAT or not logger.isEnabledFor(logging.INFO):
            return None
        return cls(handlers[0].stream)

    def info(self, _format: str, client: str, method: str, path: str, version: str,
             status: int) -> None:  # fmt: skip
        phrase = self.phrases.get(status)
        if phrase is None:
            phrase = self.phrases[status] = uvicorn_phrase(status)
        self.stream.write(
            f'INFO:     {client} - "{method} {redacted(path)} HTTP/{version}" {phrase}\n'
        )
        if not self.flushing:
            self.flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.flushing = False
        with contextlib.suppress(OSError, ValueError):  # a closed stream: as logging does
            self.stream.flush()


ACCESS_FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'


def uvicorn_phrase(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} "


class QuietServer(uvicorn.Server):
    """uvicorn wakes every 0.1 s to refresh its Date header and check for exit; this server
    sleeps until a signal asks it to stop (the Date header is written per response instead)."""

    _stop: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.on_tick(0)
        if not self.should_exit:
            await self._stop.wait()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


RESERVED_FILES = 32  # descriptors kept for the database, logs and the like


def connection_cap(wanted: int) -> int:
    """At most ``wanted`` connections, and never more than half the descriptors the process
    may open (systemd's default is 1,024): a busy connection may hold a file open too."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, (soft - RESERVED_FILES) // 2))


class HeldFlow(FlowControl):
    """uvicorn's flow control, which the node can hold paused for good: once a body is read
    from the socket past uvicorn (`socket_body`), nothing may resume reading the connection."""

    held = False

    def resume_reading(self) -> None:
        if not self.held:
            super().resume_reading()


class Coalesced:
    """A connection's transport whose small writes of one turn of the event loop go out as
    one: an answer's headers and its body in one send(2) and one packet, where uvicorn
    writes them apart (the status line and headers, then the body). What is held is sent at
    the end of the turn, before anything written later, and at once past `HELD` bytes or
    when the connection closes. Everything else is the transport's own."""

    HELD = 16 << 10

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            if len(data) >= self.HELD:
                self._transport.write(data)
                return
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))
        self._size += len(data)
        if self._size >= self.HELD:
            self.flush()

    def flush(self) -> None:
        if self._held:
            data, self._held, self._size = b"".join(self._held), [], 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def writelines(self, pieces: Any) -> None:
        for piece in pieces:
            self.write(piece)

    def get_write_buffer_size(self) -> int:
        return self._size + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


# The request cycle's attributes a SocketBody reads and sets (uvicorn's, not a public API).
CYCLE_PARTS = ("body", "more_body", "keep_alive", "waiting_for_100_continue", "disconnected")


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's HTTP protocol with two guards against slow clients, and large bodies read
    from the socket by a worker thread when the app asks (see `socket_body`).

    A request's headers must arrive within `header_timeout` seconds of the connection
    opening (or of the previous answer), else the connection is closed. At most
    `max_connections` are open: past that, a newcomer takes the place of the connection
    that has waited longest for its headers, or gets 503 if every one is busy with a request.
    So a few hundred slow connections never exhaust the process's file descriptors, and a
    normal client still gets in while they last.
    """

    header_timeout = 15.0
    max_connections = 400
    body_timeout = 60.0  # seconds without a byte of a body read from the socket: 408
    socket_readers: set[SocketBody] = set()  # bodies being read from sockets (one per server)
    _waiting_since: float | None = None
    _timer: asyncio.TimerHandle | None = None
    _offer: SocketBody | None = None
    access_line: AccessLine | None = None  # one per server, made by the first connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = HeldFlow(transport)
        self.transport = Coalesced(transport, self.loop)  # type: ignore[assignment]
        if self.access_log:
            cls = type(self)
            if cls.access_line is None:
                cls.access_line = AccessLine.replacing(self.access_logger) or self.access_logger  # type: ignore[assignment]
            self.access_logger = cls.access_line  # type: ignore[assignment]
        if len(self.connections) > self.max_connections:
            oldest = self._longest_waiting()
            if oldest is None:
                transport.write(BUSY)
                transport.close()
                return
            oldest._stop_waiting()  # no longer a candidate while its closing completes
            oldest.transport.close()
        self._wait_for_headers()

    def _longest_waiting(self) -> GuardedHttp | None:
        waiting = [
            other
            for other in self.connections
            if isinstance(other, GuardedHttp) and other is not self and other._waiting_since
        ]
        return min(waiting, key=lambda other: other._waiting_since or 0.0, default=None)

    def _wait_for_headers(self) -> None:
        self._waiting_since = self.loop.time()
        self._timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _stop_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._waiting_since = None

    def _too_slow(self) -> None:
        self._timer = None
        if self._waiting_since is not None and not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        self._offer = None
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()
        declared = self._large_body()
        if declared is not None:
            self._offer = SocketBody(self, declared, self.body_timeout)
            extensions: dict[str, object] = self.scope.setdefault("extensions", {})  # type: ignore[assignment]
            extensions[EXTENSION] = self._offer

    def _large_body(self) -> int | None:
        """The Content-Length of a request whose body may be read from the socket: large,
        plain HTTP (TLS is the transport's), one Content-Length and no Transfer-Encoding,
        started at once (not waiting behind another request), no upgrade."""
        if self.scheme != "http" or self.pipeline or self.parser.should_upgrade():
            return None
        if self.cycle is None or self.cycle.scope is not self.scope:
            return None
        if not all(hasattr(self.cycle, part) for part in CYCLE_PARTS):
            return None
        lengths = [value for name, value in self.headers if name == b"content-length"]
        if len(lengths) != 1 or any(name == b"transfer-encoding" for name, _ in self.headers):
            return None
        if not lengths[0].isdigit() or int(lengths[0]) < LARGE:
            return None
        return int(lengths[0])

    def on_body(self, body: bytes) -> None:
        if self._offer is not None:
            self._offer.parsed += len(body)
        super().on_body(body)

    def hold_reading(self) -> None:
        """Stop reading this connection for good (its body is read from the socket)."""
        assert isinstance(self.flow, HeldFlow)
        self.flow.held = True
        self.flow.pause_reading()

    def on_response_complete(self) -> None:
        idle_next = not self.pipeline  # else the next request's headers are already in
        super().on_response_complete()
        if idle_next and not self.transport.is_closing():
            self._stop_waiting()
            self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)


BUSY = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
LARGE_BUFFER = 4 << 20


def return_large_buffers() -> None:
    """Buffers of 4 MiB and more go back to the system when freed. glibc otherwise raises
    its threshold to the largest block freed so far: after a second login, Argon2's 19 MiB
    stays in the process for good (measured: 83 MB idle after one login, 102 MB after four).
    Not glibc (musl): nothing to do."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER)


class PortTaken(SystemExit):
    """The address cannot be listened on: said in one line, exit code 1."""


def listen_on(host: str, port: int) -> socket.socket:
    """The listening socket, taken before the node says it is serving, so a busy port is one
    line and an exit code, not a traceback after a line that claims the node is up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise PortTaken(
            f"Cannot listen on {host}:{port} ({error.strerror or error}): another program uses"
            " it, or the address is not this machine's; stop it or choose another with --port."
        ) from None
    listener.set_inheritable(True)
    return listener


def serve(
    app: object,
    listener: socket.socket,
    header_timeout: float = 15.0,
    max_connections: int = 400,
    body_timeout: float = 60.0,
    certificate: tuple[str, str] | None = None,  # (cert file, key file): HTTPS
    forwarded_allow_ips: str = "",  # a reverse proxy whose X-Forwarded-* headers are believed
) -> None:
    guarded = type(
        "GuardedHttp",
        (GuardedHttp,),
        {
            "header_timeout": header_timeout,
            "max_connections": connection_cap(max_connections),
            "body_timeout": body_timeout,
            "socket_readers": set(),
            "access_line": None,
        },
    )
    return_large_buffers()
    host, port = listener.getsockname()[:2]
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        http=buffered(guarded) if certificate else guarded,  # type: ignore[arg-type]  # tls_reads
        lifespan="on",  # a satellite starts its automatic sync there (see hameau.app.lifespan)
        date_header=False,
        server_header=False,
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips or None,
        ssl_certfile=certificate[0] if certificate else None,
        ssl_keyfile=certificate[1] if certificate else None,
        log_level="info",
    )
    logging.getLogger("uvicorn.access").addFilter(RedactSecrets())
    QuietServer(config).run(sockets=[listener])


SERVING_LOCK = "serving.lock"  # shared by every `hameau serve`, exclusive for a move


@contextmanager
def holding(root: Path, exclusive: bool) -> Iterator[bool]:
    """The data dir's serving lock: shared by every `hameau serve`, exclusive for a move.
    Yields whether it was taken (never waits). Released by the kernel if the process dies."""
    descriptor = os.open(root / SERVING_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)

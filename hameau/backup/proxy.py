"""The loopback proxy restic talks to: restic cannot sign its requests (RFC 9421), so while a
peer's repository is open (peer_target.py), a small HTTP server on 127.0.0.1 takes every
request restic makes and sends it on to the peer's /api/hamlet/backup/, signed with this
node's key, over the pinned TLS channel, through the one client toward a peer
(hamlet/client.py: its answers are checked against the peer's pinned key too).

It listens on loopback only, on a free port, and answers only requests carrying the random
secret of its address (`rest:http://restic:SECRET@127.0.0.1:PORT/`), from a socket of this
process's own user (on Linux, read from /proc/net/tcp), so another user of the machine cannot
use it, even one who saw the address (restic is given it in its environment: RESTIC_REPOSITORY,
which only its user can read, rather than on its command line, which anyone can). Nothing of a request (its secret, its body) is logged. A body is read
whole (restic's objects are at most a few tens of MiB: store.MAX_OBJECT) because its digest
is signed before it is sent; a ranged GET passes its Range on and its part back."""

from __future__ import annotations

import base64
import hmac
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hameau.backup.store import MAX_OBJECT
from hameau.hamlet.client import PEER_ERRORS

log = logging.getLogger("hameau.backup")
PREFIX = "/api/hamlet/backup"
ASKED = ("range", "accept", "content-type")
ANSWERED = ("content-type", "content-range", "accept-ranges")
USER = "restic"


def _owner(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid owning the loopback socket `client` connected to `server` (Linux: its line
    in /proc/net/tcp), None where that cannot be read."""

    def hexed(address: tuple[str, int]) -> str:
        return f"{socket.inet_aton(address[0])[::-1].hex().upper()}:{address[1]:04X}"

    local, remote = hexed(client), hexed(server)
    try:
        with open("/proc/net/tcp") as table:
            for line in table:
                fields = line.split()
                if fields[1:3] == [local, remote]:
                    return int(fields[7])
    except (OSError, ValueError, IndexError):
        return None
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    peer: Any  # a blocking client toward the peer (hamlet/client.py:to_peer)
    expected: str  # the Authorization header restic sends, with the secret

    def handle_error(self, request: Any, client_address: Any) -> None:
        """restic went away mid-answer (it was stopped, or gave up): nothing to say."""
        log.debug("backup proxy: a connection from restic ended early")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # restic keeps its connections open
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing of restic's requests is logged."""

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        given = {"content-type": "text/plain; charset=utf-8", **(headers or {})}
        for name, value in given.items():
            self.send_header(name, value)
        if "content-length" not in given:
            self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def setup(self) -> None:
        """Whose program connected, once per connection (restic keeps them open)."""
        super().setup()
        host, port = self.server.server_address[:2]
        owner = _owner(self.client_address[:2], (str(host), port))
        self.stranger = owner is not None and owner != os.getuid()

    def _refusal(self) -> tuple[int, bytes] | None:
        if self.stranger:
            return 403, b"This proxy answers only its own user's programs.\n"
        said = self.headers.get("authorization", "")
        if not hmac.compare_digest(said.encode(), self.server.expected.encode()):
            return 401, b"This proxy answers only the restic it was opened for.\n"
        if not self.path.startswith("/"):
            return 400, b"Only paths are forwarded.\n"
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return 411, b"A body must come with its Content-Length.\n"
        if int(self.headers.get("content-length") or 0) > MAX_OBJECT:
            return 413, b"This object is larger than a peer accepts.\n"
        return None

    def _forward(self) -> None:
        refusal = self._refusal()
        if refusal is not None:
            self.close_connection = True
            self._reply(*refusal)
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name: value for name in ASKED if (value := self.headers.get(name))}
        try:
            answer = self.server.peer.request(
                self.command, PREFIX + self.path, content=body, headers=headers
            )
        except PEER_ERRORS as error:
            self._reply(502, f"{error}\n".encode())
            return
        back = {name: answer.headers[name] for name in ANSWERED if name in answer.headers}
        if self.command == "HEAD" and "content-length" in answer.headers:
            back["content-length"] = answer.headers["content-length"]
        self._reply(answer.status_code, answer.content, back)

    do_GET = do_HEAD = do_POST = do_DELETE = _forward


@dataclass(frozen=True)
class Proxy:
    url: str  # restic's repository: rest:http://restic:SECRET@127.0.0.1:PORT/


@contextmanager
def serving(peer: Any) -> Iterator[Proxy]:
    """A proxy toward `peer` (a client from hamlet/client.py:to_peer) while the context lasts."""
    secret = secrets.token_urlsafe(24)
    server = _Server(("127.0.0.1", 0), _Handler)
    token = base64.b64encode(f"{USER}:{secret}".encode()).decode()
    server.peer, server.expected = peer, f"Basic {token}"
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="backup-proxy", daemon=True)
    thread.start()
    try:
        yield Proxy(f"rest:http://{USER}:{secret}@127.0.0.1:{port}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

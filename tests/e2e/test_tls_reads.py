"""What a `hameau serve --tls` process reads over HTTPS goes through one reused buffer
(hameau/node/tls_reads.py): attacked over real TLS connections, bodies come back exact
whatever the interleaving of several connections, requests pipelined in one TLS record are
answered in order, and a body cut mid-way leaves nothing."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.served import Served, serve
from tests.e2e.test_socket_body import new_node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str, Path]]:
    root = tmp_path_factory.mktemp("tls-reads") / "node"
    secret, temp_dir = new_node(root)
    with serve(root, tls=True) as served:
        yield served, secret, temp_dir


def client(served: Served, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=served.url, verify=ssl.create_default_context(cafile=str(served.cert)),
        headers={"Authorization": f"Bearer {secret}"}, timeout=60,
    )  # fmt: skip


def test_bodies_sent_at_once_over_several_connections_come_back_exact(home) -> None:  # type: ignore[no-untyped-def]
    """Four uploads of a few MiB at once, each on its own TLS connection, in uneven pieces:
    every stored file hashes to what its client sent."""
    served, secret, _ = home
    bodies = {f"at-once-{number}.bin": os.urandom((3 << 20) + number * 7919) for number in range(4)}
    failures: list[str] = []

    def send(name: str, body: bytes) -> None:
        pieces = (body[start : start + 70001] for start in range(0, len(body), 70001))
        with client(served, secret) as http:
            answer = http.put(f"/api/files/mine/{name}", content=pieces,
                              headers={"Content-Length": str(len(body))})  # fmt: skip
            if answer.status_code not in (200, 201, 204):
                failures.append(f"{name}: {answer.status_code} {answer.text}")

    threads = [threading.Thread(target=send, args=item) for item in bodies.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with client(served, secret) as http:
        for name, body in bodies.items():
            got = http.get(f"/api/files/mine/{name}")
            assert got.status_code == 200
            assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(body).hexdigest()


def tls_socket(served: Served) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(served.cert))
    port = int(served.url.rsplit(":", 1)[1])
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def everything(connection: ssl.SSLSocket) -> bytes:
    received = b""
    try:
        while chunk := connection.recv(1 << 16):
            received += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    return received


def test_requests_pipelined_in_one_record_are_answered_in_order(home) -> None:  # type: ignore[no-untyped-def]
    served, secret, _ = home
    with client(served, secret) as http:
        for name in ("first.txt", "second.txt"):
            assert http.put(f"/api/files/mine/{name}", content=name.encode()).status_code in (
                200,
                201,
                204,
            )
    auth = f"Authorization: Bearer {secret}\r\nHost: 127.0.0.1\r\n"
    requests = (
        f"GET /api/files/mine/first.txt HTTP/1.1\r\n{auth}\r\n"
        f"GET /api/files/mine/second.txt HTTP/1.1\r\n{auth}Connection: close\r\n\r\n"
    ).encode()
    with tls_socket(served) as connection:
        connection.sendall(requests)  # one write: one TLS record holds both
        received = everything(connection)
    assert received.count(b"HTTP/1.1 200 ") == 2
    assert received.index(b"first.txt") < received.index(b"second.txt")


def test_a_body_cut_over_tls_leaves_nothing(home) -> None:  # type: ignore[no-untyped-def]
    """Past its first MiB the body is staged and written past the page cache
    (node/blobs/direct.py): cut there, its temp file goes and nothing is recorded."""
    served, secret, temp_dir = home
    head = (
        f"PUT /api/files/mine/cut.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {secret}\r\nContent-Length: {8 << 20}\r\n\r\n"
    ).encode()
    deadline = time.monotonic() + 30
    with tls_socket(served) as connection:
        connection.sendall(head + os.urandom(3 << 20))
        while not list(temp_dir.glob("upload-*")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(temp_dir.glob("upload-*")), "the upload never started"
    while list(temp_dir.glob("upload-*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not list(temp_dir.glob("upload-*")), "a cut upload left a partial file"
    with client(served, secret) as http:
        assert http.get("/api/files/mine/cut.bin").status_code == 404
        assert http.put("/api/files/mine/after.txt", content=b"on").status_code in (200, 201)
        assert http.get("/api/files/mine/after.txt").content == b"on"  # still serving
    assert "Traceback" not in served.output()

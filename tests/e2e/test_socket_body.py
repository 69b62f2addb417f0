"""Large uploads whose body a worker thread reads from the socket past uvicorn
(hameau/node/socket_body.py), attacked over raw sockets against a real `hameau serve`: a
request sent right behind the body, a body that stops coming, a body cut or reset, a kill -9
mid-body; chunked bodies and requests with both length headers as before."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import Served, serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e

LARGE = 3 << 20  # above socket_body.LARGE: read from the socket
BODY_TIMEOUT = 2  # seconds, so that a stalled body is refused quickly
DOORS = ("/api/files/mine", "/dav/files/mine")


def at(door: str, name: str) -> str:
    """A path through this door; the two doors see one space, so each its own names."""
    return f"{door}/{door.split('/')[1]}-{name}"


def new_node(root: Path) -> tuple[str, Path]:
    node = make_node(root)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "t")[1]
    temp_dir = node.blobs.temp_dir
    node.close()
    return secret, temp_dir


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str, Path]]:
    root = tmp_path_factory.mktemp("socket-body") / "node"
    secret, temp_dir = new_node(root)
    with serve(root, env={"HAMEAU_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT)}) as served:
        yield served, secret, temp_dir


def connect(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(served.url.rsplit(":", 1)[1])), timeout=30)


def head(secret: str, method: str, path: str, **headers: str) -> bytes:
    """A request's head, with the member's credentials (Basic: both doors take it)."""
    basic = base64.b64encode(f"alex:{secret}".encode()).decode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Basic {basic}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answers(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset ends it too)."""
    received = b""
    try:
        while chunk := connection.recv(1 << 16):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def statuses(received: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]


def fetch(served: Served, secret: str, path: str) -> tuple[int, bytes]:
    with connect(served) as connection:
        connection.sendall(head(secret, "GET", path, Connection="close"))
        received = answers(connection)
    status, _, body = received.partition(b"\r\n\r\n")
    return statuses(status)[0], body


def put(served: Served, secret: str, path: str, body: bytes) -> int:
    with connect(served) as connection:
        connection.sendall(head(secret, "PUT", path, Content_Length=str(len(body))) + body)
        return statuses(answers(connection))[0]


@pytest.mark.parametrize("door", DOORS)
def test_a_request_right_behind_the_body_is_neither_body_nor_run(home, door: str) -> None:  # type: ignore[no-untyped-def]
    served, secret, _ = home
    assert put(served, secret, at(door, "victim.txt"), b"keep me") in (201, 204)
    body = os.urandom(LARGE)
    behind = head(secret, "DELETE", at(door, "victim.txt"))
    behind += head(secret, "PUT", at(door, "smuggled.bin"), Content_Length="5") + b"hello"
    with connect(served) as connection:
        connection.sendall(head(secret, "PUT", at(door, "big.bin"), Content_Length=str(LARGE)))
        connection.sendall(body + behind)  # in the same segments as the body's end
        received = answers(connection)
    assert statuses(received) in ([201], [])  # one answer at most (a reset may eat it)
    assert fetch(served, secret, at(door, "big.bin")) == (200, body)  # not a byte more
    assert fetch(served, secret, at(door, "victim.txt")) == (200, b"keep me")  # never run
    assert fetch(served, secret, at(door, "smuggled.bin"))[0] == 404


@pytest.mark.parametrize("door", DOORS)
def test_a_body_that_stops_coming_is_refused_with_408_and_nothing_kept(home, door: str) -> None:  # type: ignore[no-untyped-def]
    served, secret, temp_dir = home
    with connect(served) as connection:
        connection.sendall(head(secret, "PUT", at(door, "stalled.bin"), Content_Length=str(LARGE)))
        connection.sendall(os.urandom(LARGE // 2))  # then nothing, the connection kept open
        received = answers(connection)
    assert statuses(received) == [408]
    assert b"connection: close" in received.lower()
    assert fetch(served, secret, at(door, "stalled.bin"))[0] == 404
    assert not list(temp_dir.iterdir())  # the temp file went with it


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("ending", ["close", "reset"])
def test_a_body_cut_by_the_client_leaves_nothing(home, door: str, ending: str) -> None:  # type: ignore[no-untyped-def]
    served, secret, temp_dir = home
    connection = connect(served)
    connection.sendall(head(secret, "PUT", at(door, "cut.bin"), Content_Length=str(LARGE)))
    connection.sendall(os.urandom(LARGE // 2))
    deadline = time.monotonic() + 30
    while not list(temp_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(temp_dir.iterdir()), "the upload never started"
    if ending == "reset":  # RST instead of FIN
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
    connection.close()
    while list(temp_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not list(temp_dir.iterdir()), "a cut upload left a partial file"
    assert fetch(served, secret, at(door, "cut.bin"))[0] == 404
    assert "Traceback" not in served.output()


@pytest.mark.parametrize("door", DOORS)
def test_expect_100_continue_is_answered_before_the_body(home, door: str) -> None:  # type: ignore[no-untyped-def]
    served, secret, _ = home
    body = os.urandom(LARGE)
    with connect(served) as connection:
        connection.sendall(
            head(
                secret,
                "PUT",
                at(door, "asked.bin"),
                Content_Length=str(LARGE),
                Expect="100-continue",
            )
        )
        assert connection.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        connection.sendall(body)
        assert statuses(answers(connection)) == [201]
    assert fetch(served, secret, at(door, "asked.bin")) == (200, body)


def chunked(body: bytes, size: int = 1 << 16) -> bytes:
    pieces = (body[i : i + size] for i in range(0, len(body), size))
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize("door", DOORS)
def test_a_chunked_body_takes_uvicorns_path_and_keeps_the_connection(home, door: str) -> None:  # type: ignore[no-untyped-def]
    served, secret, _ = home
    body = os.urandom(LARGE)
    with connect(served) as connection:
        connection.sendall(
            head(secret, "PUT", at(door, "chunked.bin"), Transfer_Encoding="chunked")
        )
        connection.sendall(chunked(body))
        connection.sendall(head(secret, "GET", at(door, "chunked.bin"), Connection="close"))
        received = answers(connection)
    assert statuses(received)[:2] == [201, 200]  # the same connection served the next request
    assert received.endswith(body)


@pytest.mark.parametrize("door", DOORS)
def test_both_length_headers_are_refused_and_nothing_kept(home, door: str) -> None:  # type: ignore[no-untyped-def]
    served, secret, _ = home
    body = os.urandom(LARGE)
    for headers in (
        {"Content_Length": str(LARGE), "Transfer_Encoding": "chunked"},
        {"Transfer_Encoding": "chunked", "Content_Length": str(LARGE)},
    ):
        with connect(served) as connection:
            connection.sendall(head(secret, "PUT", at(door, "both.bin"), **headers))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                connection.sendall(chunked(body))  # refused before the end, maybe
            assert statuses(answers(connection)) == [400]
    with connect(served) as connection:  # two Content-Lengths that differ
        twice = head(secret, "PUT", at(door, "both.bin"), Content_Length=str(LARGE))
        twice = twice.replace(b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\n")
        connection.sendall(twice + b"hello")
        assert statuses(answers(connection)) == [400]
    assert fetch(served, secret, at(door, "both.bin"))[0] == 404


def test_a_kill_minus_9_mid_body_leaves_nothing_partial(tmp_path: Path) -> None:
    root = tmp_path / "node"
    secret, temp_dir = new_node(root)
    with serve(root) as served:
        held = []  # the connections stay open until the kill
        for door in DOORS:
            held.append(connection := connect(served))
            connection.sendall(
                head(secret, "PUT", at(door, "killed.bin"), Content_Length=str(LARGE))
            )
            connection.sendall(os.urandom(LARGE // 2))
            deadline = time.monotonic() + 30
            while not list(temp_dir.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert list(temp_dir.iterdir()), "the upload never started"
        served.process.send_signal(signal.SIGKILL)
        served.process.wait()
        for connection in held:
            connection.close()
    checked = subprocess.run(
        [sys.executable, "-m", "hameau", "check", "--data-dir", str(root)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout  # nothing missing, damaged or half-written
    with serve(root) as served:
        for door in DOORS:
            assert fetch(served, secret, at(door, "killed.bin"))[0] == 404
        assert not list(temp_dir.iterdir())  # the cut upload's temp file cleared at start

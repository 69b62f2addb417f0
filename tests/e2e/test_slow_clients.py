"""Slow clients against a real `hameau serve` allowed few open files: a few hundred
connections that send their headers a byte at a time never lock a normal client out, and
are closed once their time for headers is up."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.served import free_port, wait_until_up
from tests.helpers import make_node

pytestmark = pytest.mark.e2e

OPEN_FILES = 256  # far below systemd's usual 1,024, so that 400 connections would exhaust it
SLOW = 400
HEADER_TIMEOUT = 2


def few_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    make_node(tmp_path / "n").close()
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["HAMEAU_HEADER_TIMEOUT_SECONDS"] = str(HEADER_TIMEOUT)
    command = [sys.executable, "-m", "hameau", "serve", "--data-dir", str(tmp_path / "n")]
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            preexec_fn=few_open_files,  # only sets a limit, before exec
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
        yield url, process, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def healthz(url: str) -> int:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as answer:
        return answer.status


def closed_by_server(connection: socket.socket) -> bool:
    """Whether the server has closed this connection (reading does not block to tell)."""
    connection.setblocking(False)
    try:
        while True:
            if not connection.recv(4096):
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def test_slow_connections_never_lock_out_a_normal_client(served) -> None:  # type: ignore[no-untyped-def]
    url, process, log = served
    port = int(url.rsplit(":", 1)[1])
    slow = []
    for _ in range(SLOW):
        connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        slow.append(connection)
    for _ in range(3):  # they go on, a header line now and then
        for connection in slow:
            with contextlib.suppress(OSError):  # closed by the server to make room
                connection.sendall(b"X-Slow: 1\r\n")
        assert healthz(url) == 200  # a normal client gets in while they last
        time.sleep(0.3)
    opened = len(os.listdir(f"/proc/{process.pid}/fd"))
    assert opened < OPEN_FILES  # the server kept to its limit
    deadline = time.monotonic() + 10 * HEADER_TIMEOUT + 20
    waiting = list(slow)
    while waiting and time.monotonic() < deadline:
        waiting = [connection for connection in waiting if not closed_by_server(connection)]
        time.sleep(0.2)
    assert not waiting, f"{len(waiting)} slow connections still open after their time was up"
    for connection in slow:
        connection.close()
    assert healthz(url) == 200
    assert process.poll() is None
    output = log.read_text()
    assert "Too many open files" not in output and "Traceback" not in output


def test_a_kept_alive_connection_has_the_same_time_for_its_next_headers(served) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = served
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert connection.recv(4096).startswith(b"HTTP/1.1 200")
        connection.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next request, never finished
        deadline = time.monotonic() + 10 * HEADER_TIMEOUT + 20
        while not closed_by_server(connection) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert closed_by_server(connection)

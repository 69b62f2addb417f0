"""The one client for calls to another server (hameau/node/peer.py), against real local
servers that fail the ways a peer does: nothing listening, no answer in time, an error
status, a body that is not JSON. Each failure is one sentence a person can act on."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hameau.node.peer import AsyncPeer, Peer, PeerFailed
from tests.e2e.served import free_port


class Handler(BaseHTTPRequestHandler):
    """/ok answers JSON; /boom 503 with an error sentence; /html 500 with a page; /garbled
    200 with a body that is not JSON; /nested 200 (and /nested-error 400) with JSON nested past
    Python's stack (a hostile peer); /flaky fails twice, then answers."""

    flaky = 0

    def do_GET(self) -> None:
        where = "/" + self.path.split("?")[0].strip("/").split("/")[0]  # /boom/anything too
        if where == "/flaky":
            Handler.flaky += 1
            if Handler.flaky <= 2:
                return self._send(502, b"not yet", "text/plain")
        bodies = {
            "/ok": (200, b'{"answer": 42}', "application/json"),
            "/flaky": (200, b'{"answer": "at last"}', "application/json"),
            "/boom": (503, b'{"error": "The model is loading; try again."}', "application/json"),
            "/html": (500, b"<html>Internal Server Error</html>", "text/html"),
            "/garbled": (200, b"{not json", "application/json"),
            "/nested": (200, b"[" * 100_000 + b"]" * 100_000, "application/json"),
            "/nested-error": (400, b"[" * 100_000 + b"]" * 100_000, "application/json"),
        }
        self._send(*bodies.get(where, (404, b"{}", "application/json")))

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def silent() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def failure(peer: Peer, path: str) -> PeerFailed:
    with pytest.raises(PeerFailed) as caught:
        peer.call("GET", path)
    return caught.value


def test_an_answer_comes_back_as_json_with_the_nodes_user_agent() -> None:
    with server() as url, Peer(url) as peer:
        assert peer.call("GET", "/ok") == {"answer": 42}
        assert peer.client.headers["User-Agent"].startswith("hameau/")


def test_nothing_listening_is_said_as_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Peer(url) as peer:
        error = failure(peer, "/ok")
    assert str(error) == f"The server at {url} cannot be reached (ConnectError)."
    assert error.kind == "unreachable" and error.status == 502


def test_no_answer_in_time_is_said_as_such() -> None:
    with silent() as url, Peer(url, timeout=0.5) as peer:
        error = failure(peer, "/ok")
    assert str(error) == f"The server at {url} did not answer in time (ReadTimeout)."


def test_an_error_status_carries_the_servers_own_sentence() -> None:
    with server() as url, Peer(url) as peer:
        said = str(failure(peer, "/boom"))
        page = str(failure(peer, "/html"))
    assert said == f"The server at {url} answered 503: The model is loading; try again."
    assert page == f"The server at {url} answered 500: <html>Internal Server Error</html>"


def test_a_body_that_is_not_json_is_said_as_such() -> None:
    with server() as url, Peer(url) as peer:
        error = failure(peer, "/garbled")
        nested = failure(peer, "/nested")
        refusal = failure(peer, "/nested-error")
    assert str(error) == f"The server at {url} answered something that is not JSON."
    assert str(nested) == f"The server at {url} answered something that is not JSON."
    assert str(refusal).startswith(f"The server at {url} answered 400: [[[")


def test_the_backoff_hook_tries_an_idempotent_call_again() -> None:
    Handler.flaky = 0
    waits: list[tuple[int, int | None]] = []

    def backoff(attempt: int, error: PeerFailed) -> float | None:
        waits.append((attempt, error.code))
        return 0.01 if attempt < 5 else None

    with server() as url, Peer(url, backoff=backoff) as peer:
        assert peer.call("GET", "/flaky") == {"answer": "at last"}
    assert waits == [(1, 502), (2, 502)]


def test_the_async_client_says_the_same() -> None:
    async def ask(url: str, path: str) -> str:
        peer = AsyncPeer(url)
        try:
            await peer.call("GET", path)
        except PeerFailed as error:
            return str(error)
        finally:
            await peer.aclose()
        return "answered"

    nowhere = f"http://127.0.0.1:{free_port()}"
    assert run(ask(nowhere, "/ok")) == f"The server at {nowhere} cannot be reached (ConnectError)."
    with server() as url:
        assert (
            run(ask(url, "/garbled")) == f"The server at {url} answered something that is not JSON."
        )
        assert run(ask(url, "/ok")) == "answered"


def run(coroutine: Any) -> Any:
    """The coroutine's result, run in a thread of its own: the browser tests keep an event
    loop running in the main thread for the whole session."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_an_idle_node_does_not_load_httpx() -> None:
    import subprocess
    import sys

    code = "import sys, hameau.node.peer, hameau.travel.home; print('httpx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"

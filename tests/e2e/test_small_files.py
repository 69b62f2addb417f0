"""Many small files through WebDAV at once, and a kill -9 in the middle of them.

Writes arriving together are made durable together (group commit, `hameau.node.group`); each
PUT is answered only once its content and its row are on the disk. A real `hameau serve` is
killed with SIGKILL while eight clients PUT small files: after a restart, every file that
was answered 201/204 is there with its bytes, and no other file is served with bytes that
were not sent for it. And killed the moment the last of a burst of PUTs is answered: every
file of the burst is there (an answer never goes out before the batch that covers it).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import Served, serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e
AT_ONCE = 8


def new_node(root: Path) -> str:
    node = make_node(root)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "test")[1]
    node.close()
    return secret


def writers(served: Served, secret: str, sent: dict[str, bytes], acknowledged: set[str],
            stop: threading.Event) -> list[threading.Thread]:  # fmt: skip
    """AT_ONCE clients PUTting new 2 KB files until ``stop`` or the server goes away."""
    lock = threading.Lock()

    def work(number: int) -> None:
        with httpx.Client(base_url=served.url, auth=("alex", secret), timeout=30) as http:
            for count in range(10_000):
                name = f"w{number}-{count}.bin"
                data = os.urandom(2048)
                with lock:
                    sent[name] = data
                try:
                    answer = http.put(f"/dav/files/mine/photos/{name}", content=data)
                except httpx.HTTPError:
                    return  # the server was killed under this request
                if answer.status_code in (201, 204):
                    with lock:
                        acknowledged.add(name)
                if stop.is_set():
                    return

    return [threading.Thread(target=work, args=(number,)) for number in range(AT_ONCE)]


def test_puts_answered_before_a_kill_minus_9_are_all_there_after_it(tmp_path: Path) -> None:
    root = tmp_path / "node"
    secret = new_node(root)
    sent: dict[str, bytes] = {}
    acknowledged: set[str] = set()
    stop = threading.Event()
    with serve(root) as served:
        with httpx.Client(base_url=served.url, auth=("alex", secret)) as http:
            assert http.request("MKCOL", "/dav/files/mine/photos/").status_code == 201
        threads = writers(served, secret, sent, acknowledged, stop)
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        served.process.send_signal(signal.SIGKILL)  # with PUTs under way
        served.process.wait()
        stop.set()
        for thread in threads:
            thread.join()
    assert len(acknowledged) >= 60
    assert len(sent) > len(acknowledged)  # some PUTs were cut by the kill
    with (
        serve(root) as served,
        httpx.Client(base_url=served.url, auth=("alex", secret), timeout=30) as http,
    ):
        for name in sorted(acknowledged):
            answer = http.get(f"/dav/files/mine/photos/{name}")
            assert (answer.status_code, answer.content == sent[name]) == (200, True), name
        for name in sorted(set(sent) - acknowledged):  # cut by the kill: whole or absent
            answer = http.get(f"/dav/files/mine/photos/{name}")
            assert answer.status_code == 404 or answer.content == sent[name], name
        assert one_write_answer(served, secret).startswith(b"HTTP/1.1 201 ")
    checked = subprocess.run(
        [sys.executable, "-m", "hameau", "check", "--data-dir", str(root)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout  # nothing missing or damaged


def one_write_answer(served: Served, secret: str) -> bytes:
    """A small PUT's whole answer, status line to the body's end, read in one `recv`: the
    node writes it in one piece (`serve.Coalesced`), not the headers and then the body."""
    host, port = served.url.removeprefix("http://").split(":")
    login = base64.b64encode(f"alex:{secret}".encode()).decode()
    asked = (
        f"PUT /dav/files/mine/photos/one-write.bin HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Basic {login}\r\nContent-Length: 2048\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(asked.encode() + os.urandom(2048))
        answer = connection.recv(1 << 16)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    assert len(body) == int(length.split(b":")[1]) > 0, answer
    return answer


BURST = 20  # files per client


def test_a_burst_killed_right_after_its_last_201_is_all_there(tmp_path: Path) -> None:
    root = tmp_path / "node"
    secret = new_node(root)
    sent = {f"c{client}-{count}.bin": os.urandom(2048) for client in range(AT_ONCE)
            for count in range(BURST)}  # fmt: skip
    answered: list[str] = []
    lock = threading.Lock()
    with serve(root) as served:
        with httpx.Client(base_url=served.url, auth=("alex", secret)) as http:
            assert http.request("MKCOL", "/dav/files/mine/burst/").status_code == 201

        def client(number: int) -> None:
            with httpx.Client(base_url=served.url, auth=("alex", secret), timeout=30) as http:
                for count in range(BURST):
                    name = f"c{number}-{count}.bin"
                    try:
                        answer = http.put(f"/dav/files/mine/burst/{name}", content=sent[name])
                    except httpx.HTTPError:
                        return  # killed after another client's failure
                    with lock:
                        if answer.status_code != 201:  # fails below; stop the others now
                            served.process.send_signal(signal.SIGKILL)
                            return
                        answered.append(name)
                        if len(answered) == len(sent):  # the last 201: kill at once
                            served.process.send_signal(signal.SIGKILL)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(AT_ONCE)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        served.process.wait()
    assert sorted(answered) == sorted(sent)
    with (
        serve(root) as served,
        httpx.Client(base_url=served.url, auth=("alex", secret), timeout=30) as http,
    ):
        listed = http.request("PROPFIND", "/dav/files/mine/burst/", headers={"Depth": "1"})
        assert listed.status_code == 207
        assert all(f"/burst/{name}<" in listed.text for name in sent)
        for name, data in sent.items():
            answer = http.get(f"/dav/files/mine/burst/{name}")
            assert (answer.status_code, answer.content == data) == (200, True), name
    checked = subprocess.run(
        [sys.executable, "-m", "hameau", "check", "--data-dir", str(root)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout  # nothing missing or damaged

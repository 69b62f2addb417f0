"""Damaged content under a real `hameau serve`: bytes flipped, a file cut short, a file
deleted, on disk, then fetched through the API (plain and Range), WebDAV (httpx and rclone),
the travel content stream and the pages. The client must get an error or a cut connection,
never the wrong bytes with success; the file then shows as damaged, and restoring a version
(or uploading the same bytes again) brings it back."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import Served, login_cookie, serve
from tests.files.test_integrity import flip
from tests.helpers import PASSWORD, add_member, make_node, node_for_clients

pytestmark = pytest.mark.e2e
BIG = 17 << 20  # above blobs.VERIFY_FIRST: hashed as it streams, not before


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    if shutil.which("rclone") is None:
        pytest.fail("rclone is missing: install Debian's rclone (.ci/run does).")
    root = tmp_path_factory.mktemp("integrity") / "node"
    secret = node_for_clients(root, "alex")
    with serve(root) as served:
        yield served, secret


def client(served: Served, secret: str) -> httpx.Client:
    """An app-password client, as file managers log in (HTTP Basic works on every door)."""
    return httpx.Client(base_url=served.url, auth=("alex", secret), timeout=60)


def blob(served: Served, data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    return served.data_dir / "blobs" / digest[:2] / digest[2:4] / digest


def put(served: Served, secret: str, name: str, data: bytes) -> None:
    with client(served, secret) as http:
        assert http.put(f"/api/files/mine/{name}", content=data).status_code == 201


def fetch(served: Served, secret: str, path: str, **headers: str) -> tuple[int | None, bytes]:
    """Status and body as a client gets them; status None when the connection was cut."""
    received = b""
    with client(served, secret) as http:
        try:
            with http.stream("GET", path, headers=headers) as answer:
                for chunk in answer.iter_raw():
                    received += chunk
                return answer.status_code, received
        except (httpx.RemoteProtocolError, httpx.ReadError):
            return None, received


def rclone_copy(served: Served, secret: str, name: str, target: Path) -> int:
    obscured = subprocess.run(
        ["rclone", "obscure", secret], capture_output=True, text=True, check=True
    ).stdout.strip()
    remote = [
        "--webdav-url", f"{served.url}/dav/files", "--webdav-user", "alex",
        "--webdav-pass", obscured, "--config", "/dev/null", "--low-level-retries", "1",
        "--retries", "1",
    ]  # fmt: skip
    done = subprocess.run(
        ["rclone", "copyto", f":webdav:mine/{name}", str(target), *remote],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode


def page(served: Served, path: str) -> str:
    cookie = login_cookie(served.url, "alex", PASSWORD)
    return httpx.get(served.url + path, cookies={"hameau_session": cookie}).text


def test_flipped_bytes_are_refused_at_every_door_and_a_version_brings_the_file_back(
    home, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    served, secret = home
    first, second = b"first draft\n" * 100, os.urandom(30_000)
    put(served, secret, "letter.txt", first)
    put(served, secret, "letter.txt", second)
    flip(blob(served, second))

    assert fetch(served, secret, "/api/files/mine/letter.txt")[0] == 409
    assert fetch(served, secret, "/api/files/mine/letter.txt", Range="bytes=0-99")[0] == 409
    assert fetch(served, secret, "/dav/files/mine/letter.txt")[0] == 409
    assert rclone_copy(served, secret, "letter.txt", tmp_path / "letter.txt") != 0
    assert not (tmp_path / "letter.txt").exists()

    assert "badge damaged" in page(served, "/files/mine/")
    cookie = login_cookie(served.url, "alex", PASSWORD)
    with httpx.Client(base_url=served.url, cookies={"hameau_session": cookie}) as browser:
        shown = browser.get("/files/mine/letter.txt").text
        assert "endommagé" in shown
        token = shown.split('name="csrf_token" value="')[1].split('"')[0]
        version = shown.split('name="version" value="')[1].split('"')[0]
        restored = browser.post(
            "/files/version",
            data={"csrf_token": token, "space": "mine", "path": "letter.txt", "version": version},
        )
        assert restored.status_code == 303
    assert fetch(served, secret, "/api/files/mine/letter.txt") == (200, first)
    assert "badge damaged" not in page(served, "/files/mine/")


def test_a_large_damaged_file_is_cut_before_its_end_then_marked(home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    served, secret = home
    data = os.urandom(BIG)
    for name in ("big-api.bin", "big-dav.bin", "big-rclone.bin"):
        put(served, secret, name, data)
        flip(blob(served, data), at=BIG // 2)
        if name == "big-api.bin":
            status, body = fetch(served, secret, f"/api/files/mine/{name}")
        elif name == "big-dav.bin":
            status, body = fetch(served, secret, f"/dav/files/mine/{name}")
        else:
            assert rclone_copy(served, secret, name, tmp_path / name) != 0
            assert not (tmp_path / name).exists()
            status, body = None, b""
        assert status is None and len(body) < BIG, name  # cut: never the whole wrong file
        # Found out: quarantined and refused from now on, whichever door asks.
        assert fetch(served, secret, f"/api/files/mine/{name}", Range="bytes=0-9")[0] == 409
        put(served, secret, name, data)  # the same bytes again repair it
        assert fetch(served, secret, f"/api/files/mine/{name}") == (200, data)
    assert any(path.name.endswith(hashlib.sha256(data).hexdigest()) for path in
               (served.data_dir / "blobs" / "quarantine").iterdir())  # fmt: skip


def test_cut_short_and_deleted_content_is_refused_not_served_short(home) -> None:  # type: ignore[no-untyped-def]
    served, secret = home
    for name, size in (("short.bin", 50_000), ("short-big.bin", BIG), ("gone.bin", 20_000)):
        data = os.urandom(size)
        put(served, secret, name, data)
        if name == "gone.bin":
            blob(served, data).unlink()
        else:
            with blob(served, data).open("r+b") as handle:
                handle.truncate(size // 3)
        for path, headers in (
            (f"/api/files/mine/{name}", {}),
            (f"/api/files/mine/{name}", {"Range": "bytes=10-20"}),
            (f"/dav/files/mine/{name}", {}),
            (f"/dav/files/mine/{name}", {"Range": "bytes=10-20"}),
        ):
            assert fetch(served, secret, path, **headers)[0] == 409, (name, path, headers)
    assert httpx.get(served.url + "/healthz").status_code == 200


def test_uploading_the_same_bytes_over_an_unnoticed_damaged_copy_repairs_it(home) -> None:  # type: ignore[no-untyped-def]
    served, secret = home
    data = os.urandom(BIG)
    put(served, secret, "photo.raw", data)
    flip(blob(served, data), at=1000)  # not read since: nobody knows yet
    put(served, secret, "copy-of-photo.raw", data)  # stored once: replaces the damaged copy
    assert fetch(served, secret, "/api/files/mine/photo.raw") == (200, data)


def test_the_travel_stream_never_ships_damaged_content(home) -> None:  # type: ignore[no-untyped-def]
    served, secret = home
    data = os.urandom(BIG)
    put(served, secret, "trip.bin", data)
    flip(blob(served, data), at=BIG - 10)
    digest = hashlib.sha256(data).hexdigest()
    received = b""
    with client(served, secret) as http:
        try:
            with http.stream(
                "POST", "/api/travel/blobs/fetch", json={"digests": [digest]}
            ) as answer:
                for chunk in answer.iter_raw():
                    received += chunk
            complete = True
        except (httpx.RemoteProtocolError, httpx.ReadError):
            complete = False
    assert not complete and len(received) < BIG


def test_a_start_after_rows_were_lost_quarantines_their_content(tmp_path: Path) -> None:
    root = tmp_path / "node"
    node = make_node(root)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "t")[1]
    node.close()
    uploads = {f"upload-{n}.bin": os.urandom(5000) for n in range(8)}
    with serve(root) as served:
        for name, data in uploads.items():
            put(served, secret, name, data)
    with sqlite3.connect(root / "hameau.db") as database:  # as a damaged WAL loses them
        database.execute("DELETE FROM file_entries WHERE name LIKE 'upload-%'")
    with serve(root) as served:
        assert "moved 8 file content(s) no file refers to into the quarantine" in served.output()
    held = sorted(path.read_bytes() for path in (root / "blobs" / "quarantine").iterdir())
    assert held == sorted(uploads.values())  # every acknowledged byte still there

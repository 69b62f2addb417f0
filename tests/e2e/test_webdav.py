"""Files through real clients against a real `hameau serve`: rclone over WebDAV, raw sockets
for cut-off uploads, a kill -9 in the middle of a write, and two writers on one path."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import Served, login_cookie, serve
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    if shutil.which("rclone") is None:
        pytest.fail("rclone is missing: install Debian's rclone (.ci/run does).")
    root = tmp_path_factory.mktemp("webdav") / "node"
    node = make_node(root)
    secrets = {}
    for name in ("alex", "sam", "tiny"):
        add_member(node, name)
        with transaction(node.sessions) as session:
            member = members.find_member(session, name)
            if name == "tiny":
                members.set_quota(member, 1)
            secrets[name] = tokens.create_token(session, member, "test")[1]
    node.close()
    with serve(root) as served:
        yield served, secrets


def rclone(served: Served, who: str, secret: str, *args: str) -> subprocess.CompletedProcess[str]:
    obscured = subprocess.run(
        ["rclone", "obscure", secret], capture_output=True, text=True, check=True
    )
    remote = [
        "--webdav-url", f"{served.url}/dav/files", "--webdav-user", who,
        "--webdav-pass", obscured.stdout.strip(), "--config", "/dev/null",
    ]  # fmt: skip
    return subprocess.run(["rclone", *args, *remote], capture_output=True, text=True, timeout=120)


def api(served: Served, secret: str, path: str, method: str = "GET", data: bytes | None = None):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(
        served.url + path, data=data, method=method, headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def names(served: Served, secret: str, path: str) -> list[str]:
    status, body = api(served, secret, path)
    assert status == 200, body
    return [entry["name"] for entry in json.loads(body)["entries"]]


def test_rclone_copies_lists_syncs_and_deletes_and_the_pages_agree(home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    alex = secrets["alex"]
    tree = tmp_path / "tree"
    (tree / "photos" / "été").mkdir(parents=True)
    (tree / "notes.txt").write_text("liste de courses\n")
    (tree / "photos" / "été" / "plage.jpg").write_bytes(os.urandom(300_000))
    (tree / "photos" / "readme.md").write_text("# Photos\n")

    copied = rclone(served, "alex", alex, "copy", str(tree), ":webdav:mine/tree")
    assert copied.returncode == 0, copied.stderr
    listed = rclone(served, "alex", alex, "lsf", "-R", ":webdav:mine/tree")
    assert sorted(listed.stdout.split()) == sorted(
        ["notes.txt", "photos/", "photos/readme.md", "photos/été/", "photos/été/plage.jpg"]
    )
    assert (
        api(served, alex, "/api/files/mine/tree/photos/%C3%A9t%C3%A9/plage.jpg")[1]
        == (tree / "photos" / "été" / "plage.jpg").read_bytes()
    )

    # A change, an addition and a removal, then sync: the node matches the local tree.
    (tree / "notes.txt").write_text("liste de courses\npain, lait, œufs\n")
    (tree / "agenda.txt").write_text("lundi: piscine\n")
    (tree / "photos" / "readme.md").unlink()
    synced = rclone(served, "alex", alex, "sync", str(tree), ":webdav:mine/tree")
    assert synced.returncode == 0, synced.stderr
    assert sorted(names(served, alex, "/api/files/mine/tree")) == [
        "agenda.txt",
        "notes.txt",
        "photos",
    ]
    assert (
        api(served, alex, "/api/files/mine/tree/notes.txt")[1] == (tree / "notes.txt").read_bytes()
    )
    assert names(served, alex, "/api/files/mine/tree/photos") == ["été"]
    checked = rclone(served, "alex", alex, "check", str(tree), ":webdav:mine/tree")
    assert checked.returncode == 0, checked.stderr

    # The web page shows the same files.
    cookie = login_cookie(served.url, "alex", PASSWORD)
    page = (
        urllib.request.urlopen(
            urllib.request.Request(
                served.url + "/files/mine/tree/", headers={"Cookie": f"hameau_session={cookie}"}
            )
        )
        .read()
        .decode()
    )
    assert "agenda.txt" in page and "notes.txt" in page and "photos" in page

    deleted = rclone(served, "alex", alex, "purge", ":webdav:mine/tree")
    assert deleted.returncode == 0, deleted.stderr
    assert "tree" not in names(served, alex, "/api/files/mine/")
    trash = (
        urllib.request.urlopen(
            urllib.request.Request(
                served.url + "/files/trash", headers={"Cookie": f"hameau_session={cookie}"}
            )
        )
        .read()
        .decode()
    )
    assert "tree" in trash  # deleted through WebDAV, still restorable for 30 days


def test_webdav_keeps_members_apart(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    alex, sam = secrets["alex"], secrets["sam"]
    assert api(served, alex, "/api/files/mine/private.txt", "PUT", b"alex only")[0] == 201
    listed = rclone(served, "sam", sam, "lsf", ":webdav:mine")
    assert "private.txt" not in listed.stdout
    assert rclone(served, "sam", sam, "cat", ":webdav:mine/private.txt").returncode != 0
    # Sam's own app password does not open Alex's files, nor does Alex's with Sam's name.
    sneaky = rclone(served, "sam", alex, "lsf", ":webdav:mine")
    assert sneaky.returncode != 0
    anonymous = urllib.request.Request(
        served.url + "/dav/files/mine/", method="PROPFIND", headers={"Depth": "1"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous)
    assert refused.value.code == 401


def dav(
    served: Served,
    who: str,
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict | None = None,
):  # type: ignore[no-untyped-def]
    basic = b64encode(f"{who}:{secret}".encode()).decode()
    request = urllib.request.Request(
        served.url + path, data=body or None, method=method,
        headers={"Authorization": f"Basic {basic}", **(headers or {})},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_webdav_refuses_infinite_depth_traversal_and_over_quota(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    alex, tiny = secrets["alex"], secrets["tiny"]
    status, body = dav(
        served, "alex", alex, "PROPFIND", "/dav/files/", headers={"Depth": "infinity"}
    )
    assert status == 403 and b"propfind-finite-depth" in body
    assert dav(served, "alex", alex, "PROPFIND", "/dav/files/mine/")[0] == 403  # no Depth: infinite
    for path in (
        "/dav/files/mine/%2e%2e/%2e%2e/etc/passwd",
        "/dav/files/mine/a%00b",
        "/dav/files/mine/%0aevil",
    ):
        assert dav(served, "alex", alex, "PUT", path, b"x")[0] in (400, 403, 404, 409), path
    status, _ = dav(served, "tiny", tiny, "PUT", "/dav/files/mine/big.bin", os.urandom(1_500_000))
    assert status == 507
    assert names(served, tiny, "/api/files/mine/") == []
    assert list((served.data_dir / "blobs" / "tmp").iterdir()) == []


def raw_put(
    served: Served, path: str, secret: str, declared: int, sent: bytes, who: str = "alex",
    more: str = "",  # more header lines, each ending in \r\n
) -> socket.socket:  # fmt: skip
    port = int(served.url.rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port))
    basic = b64encode(f"{who}:{secret}".encode()).decode()
    auth = f"Basic {basic}" if path.startswith("/dav/") else f"Bearer {secret}"
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
        f"Content-Length: {declared}\r\nContent-Type: application/octet-stream\r\n{more}\r\n"
    )
    connection.sendall(head.encode() + sent)
    return connection


def wait_for(condition, seconds: float = 10) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_an_upload_cut_halfway_leaves_nothing(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    alex = secrets["alex"]
    temp = served.data_dir / "blobs" / "tmp"
    for path in ("/api/files/mine/cut.bin", "/dav/files/mine/cut.bin"):
        connection = raw_put(served, path, alex, 4_000_000, os.urandom(1_000_000))
        assert wait_for(lambda: any(temp.iterdir()))  # the write had begun
        connection.close()
        assert wait_for(lambda: not any(temp.iterdir())), path
        assert "cut.bin" not in names(served, alex, "/api/files/mine/")


def test_a_kill_minus_9_mid_write_loses_and_corrupts_nothing(tmp_path: Path) -> None:
    root = tmp_path / "node"
    node = make_node(root)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "t")[1]
    node.close()
    first = os.urandom(500_000)
    with serve(root) as served:
        assert api(served, secret, "/api/files/mine/keep.bin", "PUT", first)[0] == 201
        connection = raw_put(
            served, "/api/files/mine/keep.bin", secret, 8_000_000, os.urandom(2_000_000)
        )
        assert wait_for(lambda: any((root / "blobs" / "tmp").iterdir()))
        served.process.send_signal(signal.SIGKILL)
        served.process.wait()
        connection.close()
    assert any((root / "blobs" / "tmp").iterdir())  # the partial write is on disk...
    with serve(root) as served:
        assert "Removed 1 partial upload(s)" in served.output()  # ...and swept at start
        status, body = api(served, secret, "/api/files/mine/keep.bin")
        assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(first).digest()
    assert not any((root / "blobs" / "tmp").iterdir())


def test_two_writers_on_one_path_never_corrupt_it(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    sam = secrets["sam"]
    contents = [bytes([number]) * 700_000 for number in range(6)]
    results: list[int] = []

    def write(number: int) -> None:
        path = "/api/files/mine/race.bin" if number % 2 else "/dav/files/mine/race.bin"
        if path.startswith("/dav"):
            results.append(dav(served, "sam", sam, "PUT", path, contents[number])[0])
        else:
            results.append(api(served, sam, path, "PUT", contents[number])[0])

    threads = [threading.Thread(target=write, args=(number,)) for number in range(len(contents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(status in (200, 201, 204) for status in results), results
    status, body = api(served, sam, "/api/files/mine/race.bin")
    assert status == 200 and body in contents  # whole, one of the writes, never a mix


def at_once(count: int, call):  # type: ignore[no-untyped-def]
    """Run ``call`` in ``count`` threads released together; their results."""
    start = threading.Barrier(count)
    results: list = []  # type: ignore[type-arg]

    def run() -> None:
        start.wait()
        results.append(call())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_parallel_clients_creating_one_folder_get_201_and_405_never_500(
    home, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    sam = secrets["sam"]
    log_before = len(served.output())
    for round_ in range(4):
        path = f"/dav/files/mine/together-{round_}/"
        results = at_once(6, lambda path=path: dav(served, "sam", sam, "MKCOL", path))
        assert sorted(status for status, _body in results) == [201, 405, 405, 405, 405, 405]

    # rclone uploading many files at once makes their shared folders in parallel.
    tree = tmp_path / "archive"
    for top in range(3):
        for sub in range(3):
            folder = tree / f"year-{top}" / f"month-{sub}"
            folder.mkdir(parents=True)
            for number in range(4):
                (folder / f"photo-{number}.jpg").write_bytes(os.urandom(2_000 + number))
    copied = rclone(
        served, "sam", sam, "copy", str(tree), ":webdav:mine/archive",
        "--transfers", "16", "--checkers", "16", "--retries", "1", "--low-level-retries", "1",
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    checked = rclone(served, "sam", sam, "check", str(tree), ":webdav:mine/archive")
    assert checked.returncode == 0, checked.stderr
    assert '" 500 ' not in served.output()[log_before:]

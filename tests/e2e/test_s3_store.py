"""A real `hameau serve` keeping its content on a real SeaweedFS cluster (blob_store =
"s3://…"): uploads through WebDAV (rclone) and the API come back the same after a restart;
a volume server SIGKILLed, reads and writes go on (two copies of everything); the node
SIGKILLed mid-upload leaves nothing under a digest and its spool is cleared at the next start."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from hameau.accounts import members, tokens
from hameau.node.blobs import load_store
from hameau.node.db import transaction
from tests.e2e.served import serve
from tests.e2e.test_webdav import raw_put, wait_for
from tests.helpers import add_member, make_node
from tests.seaweed import ENV, SECRET_KEY, Cluster, seaweedfs, settings_file

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as started:
        yield started


@pytest.fixture(scope="module")
def node(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A node whose hameau.toml names the bucket; the secret key comes from the environment."""
    root = tmp_path_factory.mktemp("s3node") / "node"
    settings = cluster.settings("node")
    made = make_node(root, **settings)
    add_member(made, "alex")
    with transaction(made.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "test")[1]
    made.close()
    settings_file(root, settings)
    store = load_store(settings["blob_store"], root.parent / "reader", SimpleNamespace(**settings))
    return {
        "root": root,
        "secret": secret,
        "store": store,
        "env": ENV,
    }


def client(url: str, secret: str) -> httpx.Client:
    return httpx.Client(base_url=url, auth=("alex", secret), timeout=120)


def rclone(url: str, secret: str, *args: str) -> None:
    if shutil.which("rclone") is None:
        pytest.fail("rclone is missing: install Debian's rclone (.ci/run does).")
    obscured = subprocess.run(
        ["rclone", "obscure", secret], capture_output=True, text=True, check=True
    ).stdout.strip()
    remote = [
        "--webdav-url", f"{url}/dav/files", "--webdav-user", "alex",
        "--webdav-pass", obscured, "--config", "/dev/null", "--retries", "1",
    ]  # fmt: skip
    subprocess.run(["rclone", *args, *remote], check=True, capture_output=True, timeout=300)


def local_blobs(root: Path) -> list[Path]:
    """Content files on the node's own disk (there should be none: it is all in S3)."""
    return [path for path in (root / "blobs").rglob("*") if path.is_file()]


def test_uploads_come_back_the_same_and_stay_after_a_restart(
    node: dict[str, Any], tmp_path: Path
) -> None:
    root, secret, store = node["root"], node["secret"], node["store"]
    by_dav = os.urandom(12 << 20)  # above the part size: a multipart upload
    by_api = os.urandom(300_000)
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "film.bin").write_bytes(by_dav)
    with serve(root, env=node["env"]) as served:
        rclone(served.url, secret, "copy", str(tmp_path / "up"), ":webdav:mine")
        with client(served.url, secret) as http:
            assert http.put("/api/files/mine/note.bin", content=by_api).status_code == 201
            assert http.get("/api/files/mine/film.bin").content == by_dav
        assert SECRET_KEY not in served.output()
    held = set(store.stored())
    assert {hashlib.sha256(by_dav).hexdigest(), hashlib.sha256(by_api).hexdigest()} <= held
    assert local_blobs(root) == []
    with serve(root, env=node["env"]) as again:
        rclone(again.url, secret, "copy", ":webdav:mine", str(tmp_path / "down"))
        with client(again.url, secret) as http:
            assert http.get("/dav/files/mine/note.bin").content == by_api
    assert (tmp_path / "down" / "film.bin").read_bytes() == by_dav


def test_a_volume_server_killed_reads_and_writes_go_on(
    node: dict[str, Any], cluster: Cluster
) -> None:
    root, secret, store = node["root"], node["secret"], node["store"]
    before = os.urandom(2 << 20)
    with serve(root, env=node["env"]) as served, client(served.url, secret) as http:
        assert http.put("/api/files/mine/before.bin", content=before).status_code == 201
        key = f"node/blobs/{hashlib.sha256(before).hexdigest()}"
        holders = cluster.holders(key)
        assert len(holders) == 2, holders  # two copies, on two of the three servers
        cluster.kill_volume(min(holders))  # one machine of three lost, holding a copy
        assert http.get("/api/files/mine/before.bin").content == before
        for number in range(5):
            after = os.urandom(1 << 20)
            put = http.put(f"/api/files/mine/after{number}.bin", content=after)
            assert put.status_code == 201, put.text
            assert http.get(f"/api/files/mine/after{number}.bin").content == after
    assert store.verify(hashlib.sha256(before).hexdigest()) is None


def test_the_node_killed_mid_upload_leaves_nothing_partial(node: dict[str, Any]) -> None:
    root, secret, store = node["root"], node["secret"], node["store"]
    held = set(store.stored())
    spool = root / "blobs" / "tmp"
    with serve(root, env=node["env"]) as served:
        connection = raw_put(served, "/dav/files/mine/cut.bin", secret, 8 << 20, b"x" * (3 << 20))
        assert wait_for(lambda: any(spool.glob("upload-*")), 30), "the upload never started"
        served.process.send_signal(signal.SIGKILL)
        served.process.wait()
        connection.close()
    assert set(store.stored()) == held  # nothing under any digest, whole or partial
    with serve(root, env=node["env"]) as again, client(again.url, secret) as http:
        assert "Removed 1 partial upload(s)" in again.output()
        assert http.get("/api/files/mine/cut.bin").status_code == 404
    assert not any(spool.glob("upload-*"))

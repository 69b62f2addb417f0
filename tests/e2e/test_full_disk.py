"""A real full disk under a real `hameau serve`: a small tmpfs mounted as the content store
(then as the whole data dir, so the database cannot grow either), filled, then written to
through every door (the API, the pages' upload form, WebDAV with httpx and rclone, a
satellite's sync). Each answers 507 with a sentence, keeps nothing partial, the node stays
up and serves reads; space freed from inside the product makes the next upload succeed,
without a restart. Mounting needs root: elsewhere these tests are skipped as not run."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from hameau.accounts import members, tokens
from hameau.config import Settings
from hameau.node.datadir import open_node
from hameau.node.db import transaction
from tests.e2e.served import Served, log_in_page, login_cookie, serve
from tests.helpers import PASSWORD, add_member, make_node
from tests.travel.sides import write as write_on

pytestmark = pytest.mark.e2e

SENTENCE = "The home server's disk is full: nothing of this was kept."
FRENCH = "Le disque du serveur de la maison est plein : rien de cet envoi n’a été gardé."


def says_full(text: str) -> bool:
    """The sentence, in English or in the node's default language (French)."""
    text = text.replace("&#39;", "'").replace("&#x27;", "'")
    return SENTENCE in text or FRENCH in text


MB = 1 << 20


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (emptied of what was there), unmounted after."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("not run: mounting a small tmpfs as a full disk needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True, text=True,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"not run: a tmpfs cannot be mounted here ({mounted.stderr.strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk says it is full (as something else on the machine would)."""
    filler = folder / "filler.bin"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    block = b"\0" * 65536
    try:
        while True:
            try:
                os.write(descriptor, block)
            except OSError as error:
                assert error.errno == errno.ENOSPC
                if len(block) == 1:
                    break
                block = block[: len(block) // 2]
    finally:
        os.close(descriptor)
    return filler


def leftovers(blobs: Path) -> list[str]:
    return sorted(path.name for path in (blobs / "tmp").glob("*"))


def hameau(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hameau", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "HAMEAU_PASSWORD": PASSWORD},
    )  # fmt: skip


def app_password(data_dir: Path, name: str = "alex") -> str:
    node = open_node(Settings(data_dir=data_dir))
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, name), "test")[1]
    node.close()
    return secret


class Doors:
    """The ways a member writes a file to a served node, each through a real client."""

    def __init__(self, served: Served, token: str, tmp: Path) -> None:
        self.served, self.token, self.tmp = served, token, tmp
        self.api = httpx.Client(
            base_url=served.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.dav = httpx.Client(base_url=served.url, auth=("alex", token), timeout=60)
        cookie = login_cookie(served.url, "alex", PASSWORD)
        self.pages = httpx.Client(
            base_url=served.url, cookies={"hameau_session": cookie}, timeout=60,
            headers={"Accept-Language": "en"},
        )  # fmt: skip

    def close(self) -> None:
        for client in (self.api, self.dav, self.pages):
            client.close()

    def by_api(self, name: str, data: bytes) -> httpx.Response:
        return self.api.put(f"/api/files/mine/{name}", content=data)

    def by_form(self, name: str, data: bytes) -> httpx.Response:
        page = self.pages.get("/files/mine/").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        return self.pages.post(
            f"/files/upload?csrf_token={token}",
            data={"space": "mine", "path": ""},
            files={"files": (name, data, "application/octet-stream")},
        )

    def by_dav(self, name: str, data: bytes) -> httpx.Response:
        return self.dav.put(f"/dav/files/mine/{name}", content=data)

    def by_rclone(self, name: str, data: bytes) -> subprocess.CompletedProcess[str]:
        source = self.tmp / "rclone" / name
        source.parent.mkdir(exist_ok=True)
        source.write_bytes(data)
        obscured = subprocess.run(
            ["rclone", "obscure", self.token], capture_output=True, text=True, check=True
        ).stdout.strip()
        return subprocess.run(
            [
                "rclone", "copyto", str(source), f":webdav:mine/{name}", "--retries", "1",
                "--low-level-retries", "1", "--webdav-url", f"{self.served.url}/dav/files",
                "--webdav-user", "alex", "--webdav-pass", obscured, "--config", "/dev/null",
            ],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def names(self) -> list[str]:
        listing = self.api.get("/api/files/mine/")
        assert listing.status_code == 200, listing.text
        return sorted(entry["name"] for entry in listing.json()["entries"])


def still_up(doors: Doors) -> None:
    """The node answers, on new connections, and serves what it held."""
    assert httpx.get(doors.served.url + "/healthz", timeout=10).status_code == 200
    kept = doors.api.get("/api/files/mine/keep.txt")
    assert kept.status_code == 200 and kept.content == b"kept whatever happens"


def test_a_full_content_disk_answers_507_at_every_door_and_is_freed_from_inside(
    tmp_path: Path,
) -> None:
    if not subprocess.run(["which", "rclone"], capture_output=True).stdout:
        pytest.fail("rclone is missing: install Debian's rclone (.ci/run does).")
    root, sat_dir = tmp_path / "home", tmp_path / "sat"
    node = make_node(root)
    add_member(node, "alex", admin=True)
    node.close()
    token = app_password(root)
    blobs = root / "blobs"
    with small_disk(blobs, "16m"), serve(root) as served:
        doors = Doors(served, token, tmp_path)
        try:
            assert doors.by_api("keep.txt", b"kept whatever happens").status_code == 201
            assert doors.by_api("big.bin", os.urandom(6 * MB)).status_code == 201
            assert (
                doors.api.post(
                    "/api/files/folders", json={"space": "mine", "path": "Voyage"}
                ).status_code
                == 201
            )
            packed = hameau(
                "travel", "pack", "--from", served.url, "--member", "alex",
                "--take", "files:mine/Voyage", "--data-dir", str(sat_dir),
            )  # fmt: skip
            assert packed.returncode == 0, packed.stderr
            fill(blobs)
            before = doors.names()
            stored = sorted(p.name for p in blobs.glob("??/??/*"))

            refused = doors.by_api("photo.jpg", os.urandom(MB))
            assert refused.status_code == 507, refused.text
            assert says_full(refused.json()["error"])
            still_up(doors)
            form = doors.by_form("scan.pdf", os.urandom(MB))
            assert form.status_code == 507 and SENTENCE in form.text.replace(
                "&#39;", "'"
            )  # en asked
            dav = doors.by_dav("notes.odt", os.urandom(MB))
            assert dav.status_code == 507, dav.text
            assert says_full(dav.text)
            copied = doors.by_rclone("archive.zip", os.urandom(MB))
            assert copied.returncode != 0 and "507" in copied.stderr, copied.stderr
            with_sat = open_node(Settings(data_dir=sat_dir))
            write_on(with_sat, "Voyage/carnet.txt", os.urandom(MB))
            with_sat.close()
            synced = hameau("travel", "sync", "--data-dir", str(sat_dir))
            assert synced.returncode != 0
            assert "507" in synced.stdout + synced.stderr, synced.stdout + synced.stderr
            assert says_full(synced.stdout + synced.stderr)

            # Nothing partial: no temp file, no row, no new content; the node still serves.
            still_up(doors)
            assert leftovers(blobs) == []
            assert doors.names() == before
            assert sorted(p.name for p in blobs.glob("??/??/*")) == stored
            # The admin is told on every page, and /metrics says it.
            page = doors.pages.get("/files/mine/")
            assert page.status_code == 200 and "disk is almost full" in page.text
            metrics = httpx.get(served.url + "/metrics", timeout=10).text
            ratio = re.search(r'hameau_disk_free_ratio\{folder="blobs"\} (\S+)', metrics)
            assert ratio is not None and float(ratio.group(1)) < 0.1

            # Trashing is not enough; deleting for good frees the space at once.
            assert doors.api.delete("/api/files/mine/big.bin").status_code == 204
            assert doors.by_api("photo.jpg", os.urandom(MB)).status_code == 507
            trash = doors.api.get("/api/trash").json()["items"]
            big = next(item for item in trash if item["name"] == "big.bin")
            freed = doors.api.delete(f"/api/trash/{big['id']}")
            assert freed.status_code == 200 and freed.json()["freed_bytes"] == 6 * MB
            space = doors.pages.get("/admin/space")
            assert space.status_code == 200 and "Quarantine" in space.text

            assert doors.by_api("photo.jpg", os.urandom(MB)).status_code == 201
            assert doors.by_form("scan.pdf", os.urandom(MB)).status_code == 303
            assert doors.by_dav("notes.odt", os.urandom(MB)).status_code == 201
            copied = doors.by_rclone("archive.zip", os.urandom(MB))
            assert copied.returncode == 0, copied.stderr
            synced = hameau("travel", "sync", "--data-dir", str(sat_dir))
            assert synced.returncode == 0, synced.stdout + synced.stderr
            assert doors.api.get("/api/files/mine/Voyage/").json()["entries"][0]["name"] == (
                "carnet.txt"
            )
            assert "archive.zip" in doors.names() and "photo.jpg" in doors.names()
            assert leftovers(blobs) == []
        finally:
            doors.close()
        assert "Traceback" not in served.output()


def test_a_full_data_disk_where_the_database_cannot_grow_answers_507(tmp_path: Path) -> None:
    root = tmp_path / "home"
    with small_disk(root, "32m"):
        node = make_node(root)
        add_member(node, "alex", admin=True)
        node.close()
        token = app_password(root)
        with serve(root) as served:
            doors = Doors(served, token, tmp_path)
            try:
                assert doors.by_api("keep.txt", b"kept whatever happens").status_code == 201
                assert doors.by_api("old.bin", os.urandom(4 * MB)).status_code == 201
                assert doors.api.delete("/api/files/mine/old.bin").status_code == 204
                fill(root)
                statuses = set()
                for number in range(400):  # until the database cannot grow any more
                    made = doors.api.post(
                        "/api/files/folders", json={"space": "mine", "path": f"f{number:03}"}
                    )
                    statuses.add(made.status_code)
                    if made.status_code != 201:
                        break
                assert statuses == {201, 507} or statuses == {507}, statuses
                assert says_full(made.json()["error"])
                still_up(doors)
                assert doors.by_api("photo.jpg", os.urandom(10 * MB)).status_code == 507
                assert leftovers(root / "blobs") == []

                # The reserve next to the database was given back: an admin can log in,
                # see the space page and empty a trash from there.
                admin = httpx.Client(
                    base_url=served.url, timeout=60, headers={"Accept-Language": "en"},
                    cookies={"hameau_session": login_cookie(served.url, "alex", PASSWORD)},
                )  # fmt: skip
                page = admin.get("/admin/space")
                assert page.status_code == 200 and "Space on the disk" in page.text
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
                alex = re.search(r'action="/admin/space/(\d+)/trash"', page.text).group(1)  # type: ignore[union-attr]
                emptied = admin.post(f"/admin/space/{alex}/trash", data={"csrf_token": token})
                assert emptied.status_code == 303, emptied.text
                admin.close()
                assert doors.by_api("photo.jpg", os.urandom(MB)).status_code == 201
                assert (
                    doors.api.post(
                        "/api/files/folders", json={"space": "mine", "path": "after"}
                    ).status_code
                    == 201
                )
            finally:
                doors.close()
            assert "Traceback" not in served.output()


def test_the_pages_upload_script_shows_the_sentence_on_a_full_disk(
    tmp_path: Path, browser: Any
) -> None:
    root = tmp_path / "home"
    node = make_node(root)
    add_member(node, "alex")
    node.close()
    big = tmp_path / "vacances.mp4"
    big.write_bytes(os.urandom(8 * MB))
    blobs = root / "blobs"
    with small_disk(blobs, "16m"), serve(root) as served:
        fill(blobs)
        page = log_in_page(browser, served.url, "alex")
        page.goto(served.url + "/files/mine/")
        page.set_input_files("#upload input[type=file]", str(big))
        page.click("#upload button[type=submit]")
        row = page.locator("#progress .error")
        row.wait_for()
        assert says_full(row.inner_text()), row.inner_text()
        assert leftovers(blobs) == []
        page.goto(served.url + "/files/mine/")
        assert "vacances.mp4" not in page.content()

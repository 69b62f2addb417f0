"""The restore drill: a household loses its node's disk and gets it back from a backup.

Node A holds members, files with versions, notes, events, messages and app passwords; it backs
up (on SQLite and the local disk, to a folder: a USB disk; on PostgreSQL and an S3 store, to a
paired node B that offers space); then A is killed and its data dir deleted (and its database
dropped, its content deleted from the store). A new node restores from the target with the
recovery sheet (into a fresh database and store): every member's export (files with their
hashes, notes, events, messages, accounts) is the one made right after the last backup, what
was written after it is absent, the time lost is said, `hameau check` passes and `hameau
serve` serves it. B's stored objects hold none of A's plaintext."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from hameau.accounts import members as accounts
from hameau.accounts import tokens
from hameau.calendar.store import CalendarStore
from hameau.config import load_settings
from hameau.node import datadir
from hameau.node.blobs import load_store
from hameau.node.db import transaction
from tests.e2e.hamlet_nodes import Home, hameau, hamlet
from tests.e2e.served import serve
from tests.helpers import csrf_header, members_logged_in, post_form
from tests.seaweed import Cluster

MEMBERS = ("alex", "sam")


def _furnish(node: datadir.Node) -> str:
    """Members with files (one with versions), a note, an event, a message; alex's app
    password (returned)."""
    alex, sam = members_logged_in(node, *MEMBERS)
    token = csrf_header(alex)
    alex.post("/api/files/folders", json={"space": "mine", "path": "photos"}, headers=token)
    for n in range(3):  # three versions
        alex.put(
            "/api/files/mine/lettre.txt", content=f"Chère Louise, v{n}".encode(), headers=token
        )
    alex.put("/api/files/mine/photos/plage.jpg", content=bytes(range(256)) * 300, headers=token)
    sam.put("/api/files/mine/sam.txt", content=b"sam's own", headers=csrf_header(sam))
    note = int(post_form(alex, "/notes", "/notes").headers["location"].rsplit("/", 1)[1])
    alex.put(f"/api/notes/{note}", json={"base": 0, "text": "# Potager\n"}, headers=token)
    csrf = alex.get("/messages").text.split('name="csrf_token" value="')[1].split('"')[0]
    alex.post(
        "/messages",
        data={"csrf_token": csrf, "subject": "Potager", "body": "Demain ?", "to": ["sam"]},
    )
    store = CalendarStore(node)
    store.ensure("alex")
    start = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    store.save_event("alex", "alex/agenda", "Réunion", start, start + timedelta(hours=1))
    with transaction(node.sessions) as session:
        return tokens.create_token(session, accounts.find_member(session, "alex"), "phone")[1]


def _write_after(node: datadir.Node) -> None:
    (alex,) = [c for c in members_logged_in(node, "louise")]  # a member made after the backup
    alex.put("/api/files/mine/after.txt", content=b"too late", headers=csrf_header(alex))


def _entries(home_dir: Path, member: str, out: Path) -> list[dict[str, Any]]:
    made = hameau("export", member, "--out", out, "--data-dir", home_dir)
    assert made.returncode == 0, made.stderr
    with zipfile.ZipFile(out) as archive:
        return sorted(json.loads(archive.read("manifest.json"))["entries"], key=lambda e: e["path"])


def _target(kind: str, homes: dict[str, Home], tmp_path: Path) -> str:
    if kind == "folder":
        (tmp_path / "usb").mkdir()
        return str(tmp_path / "usb" / "hameau")
    offered = homes["B"].run("backup", "offer", "A", "--quota", "5G")
    assert offered.returncode == 0, offered.stderr
    return "peer:B"


def _back_up(a: Home, spec: str, tmp_path: Path) -> Path:
    """Set up, two backups (the second after more writes); the sheet, saved."""
    made = a.run("backup", "setup", spec)
    assert made.returncode == 0, made.stderr
    assert "backup-password:" in made.stdout and "BEGIN PRIVATE KEY" in made.stdout
    for _ in range(2):
        done = a.run("backup", "now")
        assert done.returncode == 0, done.stderr
        assert "Backed up to" in done.stdout
    shown = a.run("backup", "sheet", "--show-again")
    assert shown.returncode == 0, shown.stderr
    sheet = tmp_path / "sheet.txt"
    sheet.write_text(shown.stdout)
    return sheet


class Engines:
    """Where node A keeps its database and content: its data dir (SQLite, the local disk), or
    PostgreSQL and an S3 store (the run's cluster and SeaweedFS), each lost with the disk, and
    fresh ones to restore into."""

    def __init__(self, request: pytest.FixtureRequest, kind: str) -> None:
        self.on_servers = kind.endswith("postgresql-s3")
        self.settings: dict[str, str] = {}
        if not self.on_servers:
            return
        self.cluster = request.getfixturevalue("pg_cluster")
        self.seaweed: Cluster = request.getfixturevalue("seaweed")
        self.database = self.cluster.new_database("drill")
        self.fresh = self.cluster.new_database("restored")
        s3 = self.seaweed.settings(f"drill-{tmp_name(request)}")
        self.blobs, self.new_blobs = s3["blob_store"], s3["blob_store"] + "-restored"
        lines = [f'database_url = "{self.database}"'] + [f'{k} = "{v}"' for k, v in s3.items()]
        self.settings = {"A": "\n".join(lines)}
        self.options = SimpleNamespace(**s3)

    def lose(self) -> None:
        """A's database dropped and its content deleted from the store."""
        if not self.on_servers:
            return
        import obstore

        self.cluster.drop(self.database)
        store = load_store(self.blobs, Path(tempfile.mkdtemp()), self.options)
        for digest in store.stored():
            obstore.delete(store.objects, store.key(digest))  # type: ignore[attr-defined]
        assert not store.stored()

    def restore_options(self) -> list[str]:
        return ["--database", self.fresh, "--blobs", self.new_blobs] if self.on_servers else []

    def drop(self) -> None:
        if self.on_servers:
            self.cluster.drop(self.fresh)


def tmp_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[-30:]


# A folder target on SQLite and the local disk; a neighbour's on PostgreSQL and S3 (the peer's
# side on SQLite is tested in test_backup_peer.py: one drill through a peer keeps the time low).
@pytest.mark.parametrize("kind", ["folder", "peer-postgresql-s3"])
def test_a_lost_disk_is_restored_from_the_last_backup(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    names, pairs = (("A", "B"), (("B", "A"),)) if kind.startswith("peer") else (("A",), ())
    engines = Engines(request, kind)
    with hamlet(tmp_path, names=names, pairs=pairs, settings=engines.settings) as homes:
        a = homes["A"]
        spec = _target(kind, homes, tmp_path)
        node = datadir.open_node(load_settings(a.data_dir))
        secret = _furnish(node)
        sheet = _back_up(a, spec, tmp_path)
        before = {m: _entries(a.data_dir, m, tmp_path / f"{m}-before.zip") for m in MEMBERS}
        _write_after(node)
        node.close()
        a_id = a.node_id
        a.served.process.kill()  # the disk dies with the node running
        a.served.process.wait()
        shutil.rmtree(a.data_dir)
        engines.lose()
        if kind.startswith("peer"):
            _unreadable_at(homes["B"], a_id)

        new = tmp_path / "new-disk" / "hameau"
        restored = hameau(
            "backup", "restore", "--from", spec, "--data-dir", new, "--sheet", sheet,
            *engines.restore_options(),
        )  # fmt: skip
        assert restored.returncode == 0, restored.stderr
        said = " ".join(restored.stdout.split())
        assert re.search(
            r"Restored the backup of .+; what was written after it \(\d+ minutes\) is not in it\.",
            said,
        )
        checked = hameau("check", "--data-dir", new)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        for member in MEMBERS:
            assert _entries(new, member, tmp_path / f"{member}-after.zip") == before[member]
        assert (
            hameau("export", "louise", "--out", tmp_path / "l.zip", "--data-dir", new).returncode
            != 0
        )
        _served_as_before(new, secret)
    engines.drop()


def _unreadable_at(b: Home, a_id: str) -> None:
    """B holds A's backup encrypted: none of A's words nor of its content's bytes, in any
    file B stores for it (objects, and the mirror of an S3 node's content)."""
    words = ["Chère Louise".encode(), b"Potager", b"Demain ?", b"sam's own", bytes(range(256))]
    stored = [path for path in (b.data_dir / "backups" / a_id).rglob("*") if path.is_file()]
    assert len(stored) > 5
    for path in stored:
        content = path.read_bytes()
        assert not any(word in content for word in words), path


def _served_as_before(new: Path, secret: str) -> None:
    """The restored node serves; alex's app password works; the late file is not there."""
    with serve(new, tls=True) as served:
        basic = {"Authorization": "Basic " + b64encode(f"alex:{secret}".encode()).decode()}
        with httpx.Client(base_url=served.url, verify=served.verify, headers=basic) as client:
            letter = client.get("/api/files/mine/lettre.txt")
            assert letter.status_code == 200 and letter.content == "Chère Louise, v2".encode()
            assert client.get("/api/files/mine/after.txt").status_code == 404


def test_a_damaged_backup_restores_nothing(tmp_path: Path) -> None:
    """One object of the repository altered: the restore says so in one sentence and leaves
    no data dir that could pass for a good one."""
    with hamlet(tmp_path, names=("A",), pairs=()) as homes:
        a = homes["A"]
        node = datadir.open_node(load_settings(a.data_dir))
        _furnish(node)
        node.close()
        spec = _target("folder", homes, tmp_path)
        sheet = _back_up(a, spec, tmp_path)
    packs = sorted((Path(spec) / "data").rglob("*"), key=lambda p: p.stat().st_size)
    largest = [p for p in packs if p.is_file()][-1]
    damaged = bytearray(largest.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    largest.chmod(0o600)
    largest.write_bytes(bytes(damaged))
    new = tmp_path / "new-disk" / "hameau"
    restored = hameau("backup", "restore", "--from", spec, "--data-dir", new, "--sheet", sheet)
    assert restored.returncode == 1
    assert (
        restored.stderr.startswith("Error: The backup at folder") and "damaged" in restored.stderr
    )
    assert len(restored.stderr.strip().splitlines()) == 1
    assert not new.exists() and list(new.parent.iterdir()) == []

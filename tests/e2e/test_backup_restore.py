"""The restore drill: a household loses its node's disk and gets it back from a backup.

Node A holds members, files with versions, notes, events, messages and app passwords; it backs
up (to a folder: a USB disk; or, when the neighbour's part is in the tree, to a paired node B
that offers space); then A is killed and its data dir deleted. A new node restores from the
target with the recovery sheet: every member's export (files with their hashes, notes,
events, messages, accounts) is the one made right after the last backup, what was written
after it is absent, the time lost is said, `hameau check` passes and `hameau serve` serves it."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hameau.accounts import members as accounts
from hameau.accounts import tokens
from hameau.calendar.store import CalendarStore
from hameau.config import load_settings
from hameau.node import datadir
from hameau.node.db import transaction
from tests.e2e.hamlet_nodes import Home, hameau, hamlet
from tests.e2e.served import serve
from tests.helpers import csrf_header, members_logged_in, post_form

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


@pytest.mark.parametrize("kind", ["folder", "peer"])
def test_a_lost_disk_is_restored_from_the_last_backup(tmp_path: Path, kind: str) -> None:
    names, pairs = (("A", "B"), (("B", "A"),)) if kind == "peer" else (("A",), ())
    with hamlet(tmp_path, names=names, pairs=pairs) as homes:
        a = homes["A"]
        spec = _target(kind, homes, tmp_path)
        node = datadir.open_node(load_settings(a.data_dir))
        secret = _furnish(node)
        sheet = _back_up(a, spec, tmp_path)
        before = {m: _entries(a.data_dir, m, tmp_path / f"{m}-before.zip") for m in MEMBERS}
        _write_after(node)
        node.close()
        a.served.process.kill()  # the disk dies with the node running
        a.served.process.wait()
        shutil.rmtree(a.data_dir)

        new = tmp_path / "new-disk" / "hameau"
        restored = hameau("backup", "restore", "--from", spec, "--data-dir", new, "--sheet", sheet)
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

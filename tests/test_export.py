"""The export archive holds the member's whole environment, in standard formats, and only theirs."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hameau.calendar.store import CalendarStore
from hameau.node.datadir import Node
from tests.helpers import browser, csrf_header, log_in, members_logged_in, post_form


def furnish(node: Node) -> None:
    alex, sam = members_logged_in(node, "alex", "sam")
    token = csrf_header(alex)
    alex.post("/api/files/folders", json={"space": "mine", "path": "photos"}, headers=token)
    alex.put("/api/files/mine/photos/plage.jpg", content=b"\xff\xd8jpeg", headers=token)
    alex.put("/api/files/mine/lettre.txt", content="Chère Louise".encode(), headers=token)
    sam_token = csrf_header(sam)
    sam.put("/api/files/mine/sam-only.txt", content=b"not alex's", headers=sam_token)
    note = int(post_form(alex, "/notes", "/notes").headers["location"].rsplit("/", 1)[1])
    alex.put(
        f"/api/notes/{note}",
        json={"base": 0, "text": "# Idées\n\nUn potager partagé\n"},
        headers=token,
    )
    page = alex.get("/messages").text
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    alex.post(
        "/messages",
        data={"csrf_token": csrf, "subject": "Potager", "body": "On s'y met ?", "to": ["sam"]},
    )
    store = CalendarStore(node)
    store.ensure("alex")
    start = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    store.save_event("alex", "alex/agenda", "Réunion potager", start, start + timedelta(hours=1))


def check(archive: zipfile.ZipFile) -> dict:  # type: ignore[type-arg]
    manifest = json.loads(archive.read("manifest.json"))
    for entry in manifest["entries"]:
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"], entry[
            "path"
        ]
    return manifest


def test_the_cli_exports_everything_that_is_the_members(node: Node, tmp_path: Path) -> None:
    furnish(node)
    out = tmp_path / "alex.zip"
    result = subprocess.run(
        [sys.executable, "-m", "hameau", "export", "alex", "--out", str(out), "--data-dir", str(node.layout.root)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as archive:
        manifest = check(archive)
        names = archive.namelist()
        assert archive.read("files/photos/plage.jpg") == b"\xff\xd8jpeg"
        assert archive.read("files/lettre.txt").decode() == "Chère Louise"
        assert not any("sam-only" in name for name in names)
        assert "Réunion potager" in archive.read("calendars/agenda.ics").decode()
        assert "BEGIN:VCALENDAR" in archive.read("calendars/agenda.ics").decode()
        assert any(name.startswith("contacts/") and name.endswith(".vcf") for name in names)
        [note] = [name for name in names if name.startswith("notes/")]
        assert archive.read(note).decode() == "# Idées\n\nUn potager partagé\n"
        conversations = json.loads(archive.read("messages.json"))
        assert (
            conversations[0]["subject"] == "Potager"
            and conversations[0]["messages"][0]["body"] == "On s'y met ?"
        )
        assert json.loads(archive.read("profile.json"))["name"] == "alex"
        assert manifest["member"] == "alex" and manifest["format"] == "hameau-export/2"
    again = subprocess.run(
        [sys.executable, "-m", "hameau", "export", "alex", "--out", str(out), "--data-dir", str(node.layout.root)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert again.returncode != 0 and "exists" in again.stderr


def test_the_settings_page_button_downloads_the_same_archive(node: Node) -> None:
    furnish(node)
    alex = browser(node)
    log_in(alex, "alex")
    assert 'href="/account/export"' in alex.get("/account").text
    download = alex.get("/account/export")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        check(archive)
        assert "files/lettre.txt" in archive.namelist()

"""Backups to a folder: the sheet, the lock and a killed run, retention, the timer, the admin
page, the admin's export. restic is the real one (/usr/bin/restic)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from hameau.backup import restore, schedule, service, sheet
from hameau.backup.models import BackupRun
from hameau.backup.restic import BackupFailed, Restic
from hameau.backup.target import Repository
from hameau.errors import BadRequest, Conflict
from hameau.export import export_member
from hameau.node.datadir import Node
from tests.helpers import add_member, browser, in_thread, log_in, make_node, post_form


@pytest.fixture
def folder(tmp_path: Path) -> str:
    (tmp_path / "usb").mkdir()
    return str(tmp_path / "usb" / "hameau")


def _snapshots(node: Node, spec: str) -> list[dict]:  # type: ignore[type-arg]
    restic = Restic(Repository(spec), service.key.key_file(node.layout), spec)
    return restic.json(["snapshots"])  # type: ignore[no-any-return]


def test_the_sheet_says_what_a_restore_needs_and_reads_back() -> None:
    made = sheet.Sheet(
        "abcde-fghjk",
        "Maison",
        "n0de",
        "-----BEGIN PRIVATE KEY-----\nMC4C\n-----END PRIVATE KEY-----",
    )
    made.targets = ["/media/usb/hameau", "peer:maison-b"]
    made.peers["maison-b"] = sheet.PeerInfo("maison-b", "https://b.lan:8443", "bb", "S0VZ", "ab12")
    read = sheet.parse(sheet.render(made))
    assert read == made


def test_a_second_run_waits_for_the_first(node: Node, folder: str) -> None:
    service.setup(node, folder)
    with service.run_lock(node), pytest.raises(Conflict):
        service.back_up(node, folder)


def test_retention_forgets_old_backups(tmp_path: Path, folder: str) -> None:
    node = make_node(
        tmp_path / "n", backup_keep_daily=1, backup_keep_weekly=1, backup_keep_monthly=1
    )
    try:
        service.setup(node, folder)
        for _ in range(3):
            assert service.back_up(node, folder).outcome == "ok"
        assert len(_snapshots(node, folder)) == 1
    finally:
        node.close()


def test_a_killed_backup_leaves_the_next_one_working(node: Node, folder: str) -> None:
    """The node and its restic killed (SIGKILL) mid-backup: the next run says the killed one
    was interrupted, clears restic's stale lock, and backs up."""
    service.setup(node, folder)
    (node.layout.root / "big.bin").write_bytes(os.urandom(96 << 20))
    command = [sys.executable, "-m", "hameau", "backup", "now", "--data-dir", str(node.layout.root)]
    running = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    locks = Path(folder) / "locks"
    deadline = time.monotonic() + 60
    while not any(locks.iterdir()) and time.monotonic() < deadline and running.poll() is None:
        time.sleep(0.01)
    os.killpg(running.pid, signal.SIGKILL)
    running.wait()
    run = _when_free(node, folder)
    assert run.outcome == "ok" and run.snapshot_id
    with node.sessions() as session:
        outcomes = [each.outcome for each in service.last_runs(session)]
    assert outcomes[:2] == ["ok", "interrupted"]
    # restic's lock of the killed run is gone (a half-written "-tmp-" file may stay: not a lock)
    assert [lock for lock in locks.iterdir() if "-tmp-" not in lock.name] == []


def _when_free(node: Node, folder: str) -> BackupRun:
    """A backup once the killed restic has let go of the lock (its threads die a moment
    after SIGKILL)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return service.back_up(node, folder)
        except Conflict:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_timer_is_armed_only_with_a_target(node: Node, folder: str) -> None:
    async def armed() -> float | None:
        scheduler = schedule.Scheduler(node)
        scheduler.start()
        delay = scheduler.delay if scheduler.timer is not None else None
        await scheduler.stop()
        return delay

    assert in_thread(asyncio.run, armed()) is None
    service.setup(node, folder)
    assert in_thread(asyncio.run, armed()) == schedule.MIN_DELAY  # never backed up: soon
    service.back_up(node, folder)
    assert 23.9 * 3600 < (in_thread(asyncio.run, armed()) or 0) <= 24 * 3600


def test_the_admin_page_sets_up_shows_the_sheet_once_and_backs_up(node: Node, folder: str) -> None:
    """In French, the node's default language."""
    add_member(node, "camille", admin=True)
    add_member(node, "alex")
    with browser(node) as admin:
        log_in(admin, "camille")
        page = admin.get("/backup")
        assert page.status_code == 200 and "Sauvegarder maintenant" not in page.text
        shown = post_form(admin, "/backup", "/backup/targets", target=folder)
        password = service.key.read_key(node.layout)
        assert shown.status_code == 200 and password in shown.text
        again = admin.get("/backup")
        assert password not in again.text and "Sauvegarder maintenant" in again.text
        assert (
            admin.get("/").text.count("pas de sauvegarde récente") == 1
        )  # set up, never backed up
        refused = post_form(admin, "/backup", "/backup/sheet")
        assert refused.status_code == 400 and password not in refused.text
        assert password in post_form(admin, "/backup", "/backup/sheet", confirm="true").text
        started = post_form(admin, "/backup", "/backup/now")
        assert started.status_code == 303
        deadline = time.monotonic() + 60
        while "sauvegardé" not in admin.get("/backup").text and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "sauvegardé" in admin.get("/backup").text
        assert "pas de sauvegarde récente" not in admin.get("/").text
    with browser(node) as member:
        log_in(member, "alex")
        assert member.get("/backup").status_code in (303, 403)


def test_an_admins_export_holds_the_sheet(node: Node, folder: str, tmp_path: Path) -> None:
    admin, member = add_member(node, "camille", admin=True), add_member(node, "alex")
    service.setup(node, folder)
    export_member(node, admin, tmp_path / "camille.zip")
    export_member(node, member, tmp_path / "alex.zip")
    with zipfile.ZipFile(tmp_path / "camille.zip") as archive:
        text = archive.read("backup/recovery-sheet.txt").decode()
        assert sheet.parse(text).password == service.key.read_key(node.layout)
    with zipfile.ZipFile(tmp_path / "alex.zip") as archive:
        assert "backup/recovery-sheet.txt" not in archive.namelist()


def test_a_restore_refuses_a_wrong_password_and_a_used_folder(
    node: Node, folder: str, tmp_path: Path
) -> None:
    service.setup(node, folder)
    service.back_up(node, folder)
    new = tmp_path / "new"
    with pytest.raises(BackupFailed, match="does not open the backup"):
        restore.restore(folder, new, sheet.Sheet("not-the-password"))
    assert not new.exists() and not (tmp_path / ".new.restoring").exists()
    new.mkdir()
    (new / "something").write_text("here")
    right = sheet.Sheet(service.key.read_key(node.layout))
    with pytest.raises(BadRequest, match="is not empty"):
        restore.restore(folder, new, right)
    assert [p.name for p in new.iterdir()] == ["something"]


def test_a_key_made_unattended_shows_its_sheet_once_on_the_page(
    tmp_path: Path, folder: str
) -> None:
    """A target of the settings, backed up by the served node: the first backup makes the
    key; the backup page shows its sheet once."""
    node = make_node(tmp_path / "n", backup_targets=folder)
    try:
        add_member(node, "camille", admin=True)
        assert service.back_up_all(node)[0][1].outcome == "ok"  # type: ignore[union-attr]
        password = service.key.read_key(node.layout)
        with browser(node) as admin:
            log_in(admin, "camille")
            assert password in admin.get("/backup").text
            assert password not in admin.get("/backup").text
    finally:
        node.close()

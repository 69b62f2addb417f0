"""A satellite packed before its member moved home syncs with the new home (docs/travel.md,
"Your home moved?"): two homes of a hamlet served as processes (HTTPS), a real move with
`hameau move`, a satellite packed from the old home with `hameau travel pack`. Its offline
changes (a file, an event, a note) arrive at the new home as the newer versions (no conflict
copy: each path's version vector moved with the member), a file deleted at the old home
before the move is deleted on the satellite too, nothing is written at the old home, and
later syncs go to the new one."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hameau.accounts import members
from hameau.calendar.store import CalendarStore
from hameau.node.db import transaction
from hameau.notes import service as notes
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.test_travel import PASSWORD, app_password, hameau
from tests.helpers import add_member, live_files
from tests.test_environment import opened, write

pytestmark = pytest.mark.e2e


def _dav(home: Home, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{home.url}/dav/files/mine", auth=("alex", token), verify=home.verify, timeout=30
    )


def _live(root: Path) -> dict[str, str]:
    """The member's files in a data dir: path → content hash."""
    node = opened(root)
    try:
        with transaction(node.sessions) as session:
            alex = members.find_member(session, "alex")
            return {path: entry.blob or "" for path, entry in live_files(session, alex)}
    finally:
        node.close()


def _on_satellite(root: Path, path: list[str], data: bytes) -> None:
    """The member writing on the laptop, offline (through the files' service, as its doors)."""
    node = opened(root)
    try:
        with transaction(node.sessions) as session:
            write(node, session, members.find_member(session, "alex"), path, data)
    finally:
        node.close()


START = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)


def _agenda_and_notes(
    root: Path, summary: str, note: str | None = None
) -> tuple[list[str], list[str]]:
    """The member's events that week and notes' texts; with ``note``, the note edited first
    (and the event given ``summary``), as the member would on that node."""
    node = opened(root)
    store = CalendarStore(node)
    try:
        if note is not None:
            (event,) = store.events("alex", START, START + timedelta(days=1))
            store.save_event(
                "alex", "alex/agenda", summary, START, START + timedelta(hours=2), uid=event.uid
            )
        with transaction(node.sessions) as session:
            alex = members.find_member(session, "alex")
            if note is not None:
                (found,) = notes.mine(session, alex)
                notes.save(session, alex, found, notes.revision(session, found), note)
            texts = [notes.text_of(session, n) for n in notes.mine(session, alex)]
        events = [e.summary for e in store.events("alex", START, START + timedelta(days=7))]
        return events, texts
    finally:
        node.close()


def _furnish(root: Path) -> None:
    node = opened(root)
    try:
        add_member(node, "alex")
        with transaction(node.sessions) as session:
            notes.create(session, members.find_member(session, "alex"), "# Carnet\n\nLyon\n")
        store = CalendarStore(node)
        store.ensure("alex")
        store.save_event("alex", "alex/agenda", "Musée", START, START + timedelta(hours=1))
    finally:
        node.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_satellite_packed_before_the_move_syncs_with_the_new_home(tmp_path: Path) -> None:
    rule = {"B": {"HAMEAU_MOVING_ACCEPT_FROM": "A"}}
    sat = tmp_path / "satellite"
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),), env=rule) as homes:
        a, b = homes["A"], homes["B"]
        _furnish(a.data_dir)
        token = app_password(a.data_dir)
        with _dav(a, token) as dav:
            assert dav.request("MKCOL", "/Voyage").status_code == 201
            for name, data in (("plan.txt", b"day 1: Lyon"), ("vieux.txt", b"old plan")):
                assert dav.put(f"/Voyage/{name}", content=data).status_code == 201
        bundle = tmp_path / "homes.pem"  # the laptop trusts both homes' certificates
        bundle.write_bytes(b"".join(h.served.cert.read_bytes() for h in (a, b)))  # type: ignore[union-attr]
        trust = {"SSL_CERT_FILE": str(bundle)}
        packed = hameau(
            "travel", "pack", "--from", a.url, "--member", "alex", "--take", "files:mine/Voyage",
            "--take", "calendar:agenda", "--take", "notes", "--name", "portable", "--data-dir", str(sat), env={"HAMEAU_PASSWORD": PASSWORD, **trust},
        )  # fmt: skip
        assert packed.returncode == 0, packed.stderr + packed.stdout

        with _dav(a, token) as dav:  # deleted at home after the trip was packed
            assert dav.delete("/Voyage/vieux.txt").status_code == 204
        edited, notebook = b"day 1: Lyon, day 2: Arles", b"on the train"
        _on_satellite(sat, ["Voyage", "plan.txt"], edited)
        _on_satellite(sat, ["Voyage", "carnet.txt"], notebook)
        text = "# Carnet\n\nLyon, puis Arles\n"
        offline = _agenda_and_notes(sat, "Musée Réattu", text)
        assert offline == (["Musée Réattu"], [text])
        moved = a.run("move", "alex", "--to", "B")
        assert moved.returncode == 0, moved.stderr + moved.stdout
        before_at_a = _live(a.data_dir)

        synced = hameau("travel", "sync", "--data-dir", str(sat), env=trust)
        assert synced.returncode == 0, synced.stderr + synced.stdout
        assert json.loads((sat / "satellite.json").read_text())["home"] == b.url
        wanted = {"Voyage/plan.txt": sha(edited), "Voyage/carnet.txt": sha(notebook)}
        assert _live(b.data_dir) == wanted  # the newer version, no conflict copy
        assert _live(sat) == wanted  # the deletion made at the old home reached the laptop
        assert _live(a.data_dir) == before_at_a  # nothing written at the old home
        assert _agenda_and_notes(b.data_dir, "") == offline  # no "(conflit …)" event either
        assert _agenda_and_notes(a.data_dir, "") == (["Musée"], ["# Carnet\n\nLyon\n"])

        museum, train = b"musee des Beaux-Arts", b"back on the train"
        with _dav(b, token) as dav:
            assert dav.put("/Voyage/musee.txt", content=museum).status_code == 201
        _on_satellite(sat, ["Voyage", "train.txt"], train)
        again = hameau("travel", "sync", "--data-dir", str(sat), env=trust)
        assert again.returncode == 0, again.stderr + again.stdout
        wanted |= {"Voyage/musee.txt": sha(museum), "Voyage/train.txt": sha(train)}
        assert _live(b.data_dir) == wanted == _live(sat)
        assert _live(a.data_dir) == before_at_a
        status = hameau("travel", "status", "--data-dir", str(sat), env=trust)
        assert f"Home moved: {a.url} said so" in status.stdout, status.stdout
        for home in (a, b):
            checked = home.run("check")
            assert checked.returncode == 0, checked.stdout + checked.stderr

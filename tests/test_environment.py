"""`hameau export` then `hameau import` carries a member's whole environment to another node,
through the parts' adapters, and refuses a damaged or hostile archive before writing a byte."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hameau.accounts import devices, members, tokens
from hameau.accounts.models import AppToken, Device, Member, Workspace
from hameau.ai.models import AIQuery
from hameau.calendar.store import CalendarStore
from hameau.config import Settings
from hameau.files import dav_props, shares
from hameau.files import service as files
from hameau.files.models import DavProperty, FileEntry, FileShare, FileVersion
from hameau.files.retention import versions
from hameau.messages import service as messages
from hameau.messages.models import Message
from hameau.node.datadir import Node, open_node
from hameau.node.db import transaction
from hameau.notes import service as notes
from hameau.notes.models import Note, NoteUpdate
from tests.e2e.served import serve
from tests.helpers import PASSWORD, add_member, browser, log_in, make_node

CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:louise-1\r\nFN:Louise Martin\r\nEMAIL:louise@example.org\r\nEND:VCARD\r\n"  # fmt: skip
PROP = "{urn:example}colour"


@dataclass
class Moved:
    home: Path
    archive: Path
    target: Path
    secret: str  # alex's app password, made at home


def hameau(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hameau", *args], capture_output=True, text=True, timeout=300
    )


def furnish(node: Node) -> str:
    """Alex's environment at home; returns their app password."""
    add_member(node, "alex")
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        alex, sam = members.find_member(session, "alex"), members.find_member(session, "sam")
        phone = devices.add_device(session, "Téléphone d'Alex", "phone", False, owner=alex)
        token, secret = tokens.create_token(session, alex, "davx5")
        token.device_id = phone.id
        mine = files.space(alex, "mine")
        for number, text in enumerate(("Chère Louise", "Chère Louise,\nÀ bientôt", "v3"), 1):
            write(node, session, alex, ["lettre.txt"], f"{text} ({number})".encode())
        files.make_folder(session, alex, mine, ["photos"])
        files.make_folder(session, alex, mine, ["vide"])
        write(node, session, alex, ["photos", "plage.jpg"], b"\xff\xd8jpeg" * 1000)
        draft = write(node, session, alex, ["brouillon.txt"], b"to throw away")
        files.trash(session, alex, draft)
        shares.share(session, alex, files.resolve(session, mine, ["photos"]), sam)
        lettre = files.resolve(session, mine, ["lettre.txt"])
        dav_props.put(session, alex, lettre.id, PROP, b"<colour>blue</colour>")
        notes.create(session, alex, "# Idées\n\nUn potager partagé\n")
        thread = messages.start(session, alex, [sam], "Potager", "On s'y met ?")
        messages.post(session, sam, thread, "Oui, samedi !")
        session.add(AIQuery(member_id=alex.id, kind="ask", model="gemma", question="Cuisson ?",
                            answer="35 minutes", sources=[{"title": "tarte.txt"}]))  # fmt: skip
        session.add(Workspace(member_id=alex.id, app="notes", path="/notes/1", title="Idées"))
    store = CalendarStore(node)
    store.ensure("alex")
    start = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    store.save_event("alex", "alex/agenda", "Réunion potager", start, start + timedelta(hours=1))
    store.put_item("alex", "alex/contacts", "louise-1", CARD)
    return secret


def write(node: Node, session, member: Member, parts: list[str], data: bytes) -> FileEntry:  # type: ignore[no-untyped-def]
    plan = files.plan_write(session, member, files.space(member, "mine"), parts)
    return files.record_write(
        session, plan, member, node.blobs.put(data), len(data), "", node.blobs
    )


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Moved:
    root = tmp_path_factory.mktemp("move")
    home, target = make_node(root / "home"), make_node(root / "target")
    secret = furnish(home)
    add_member(target, "sam")  # the housemate moved too; no one else is there
    home.close()
    target.close()
    archive = root / "alex.zip"
    done = hameau("export", "alex", "--out", str(archive), "--data-dir", str(root / "home"))
    assert done.returncode == 0, done.stderr
    done = hameau("import", str(archive), "--data-dir", str(root / "target"))
    assert done.returncode == 0, done.stderr
    assert "logs in with the password they had" in done.stdout
    return Moved(root / "home", archive, root / "target", secret)


def opened(root: Path) -> Node:
    return open_node(Settings(data_dir=root))


def files_of(node: Node, name: str) -> dict[str, object]:
    """What a person sees of their files: content hashes, versions, trash, shares, properties."""
    with transaction(node.sessions) as session:
        member = members.find_member(session, name)
        live = files.live_files(session, member)
        trash = files.trashed(session, member)
        photos = files.resolve(session, files.space(member, "mine"), ["photos"])
        return {
            "live": {path: (entry.blob, entry.revision) for path, entry in live},
            "versions": {path: [v.blob for v in versions(session, entry)] for path, entry in live},
            "folders": [
                e.name
                for e in files.children(session, files.root(session, files.space(member, "mine")))
                if e.is_dir
            ],  # fmt: skip
            "trash": [(entry.deleted_from, entry.blob) for entry in trash],
            "shared": [
                members.get_member(session, s.member_id or 0).name
                for s in shares.shares_of(session, photos)
            ],  # fmt: skip
            "props": sorted(
                session.scalars(
                    select(DavProperty.value)
                    .join(FileEntry, FileEntry.id == DavProperty.entry_id)
                    .where(FileEntry.owner_id == member.id)
                )
            ),
        }


def test_files_arrive_with_versions_trash_shares_and_properties(moved: Moved) -> None:
    home, target = opened(moved.home), opened(moved.target)
    try:
        before, after = files_of(home, "alex"), files_of(target, "alex")
        assert after == before
        assert len(after["versions"]["lettre.txt"]) == 2  # type: ignore[index]
        assert after["trash"][0][0] == "brouillon.txt" and after["shared"] == ["sam"]  # type: ignore[index]
        assert after["props"] == [b"<colour>blue</colour>"] and "vide" in after["folders"]  # type: ignore[operator]
        for digest, _revision in after["live"].values():  # type: ignore[attr-defined]
            assert target.blobs.verify(digest) is None
        with transaction(target.sessions) as session:
            sam = members.find_member(session, "sam")
            assert [entry.name for entry in shares.shared_with(session, sam)] == ["photos"]
    finally:
        home.close()
        target.close()


def test_calendar_notes_messages_history_devices_arrive(moved: Moved) -> None:
    target = opened(moved.target)
    try:
        store = CalendarStore(target)
        start = datetime(2026, 12, 1, tzinfo=UTC)
        events = store.events("alex", start, start + timedelta(days=7))
        assert [event.summary for event in events] == ["Réunion potager"]
        assert [(c.name, c.emails) for c in store.contacts("alex")] == [("Louise Martin", ["louise@example.org"])]  # fmt: skip
        with transaction(target.sessions) as session:
            alex = members.find_member(session, "alex")
            [note] = notes.mine(session, alex)
            assert notes.text_of(session, note) == "# Idées\n\nUn potager partagé\n"
            [summary] = messages.inbox(session, alex)
            said = [m.body for m in messages.messages(session, summary.thread)]
            assert summary.thread.subject == "Potager" and said == [
                "On s'y met ?",
                "Sam: Oui, samedi !",
            ]
            [query] = session.scalars(select(AIQuery).where(AIQuery.member_id == alex.id)).all()
            assert (query.question, query.answer) == ("Cuisson ?", "35 minutes")
            [phone] = session.scalars(select(Device).where(Device.owner_id == alex.id)).all()
            [token] = session.scalars(select(AppToken).where(AppToken.member_id == alex.id)).all()
            assert phone.name == "Téléphone d'Alex" and token.device_id == phone.id
            assert session.get(Workspace, alex.id).title == "Idées"  # type: ignore[union-attr]
            assert not alex.is_admin
        client = browser(target)
        assert log_in(client, "alex", PASSWORD).status_code == 303  # the same password
    finally:
        target.close()


def test_the_app_password_opens_webdav_on_the_new_node(moved: Moved) -> None:
    import urllib.request
    from base64 import b64encode

    with serve(moved.target) as served:
        basic = b64encode(f"alex:{moved.secret}".encode()).decode()
        request = urllib.request.Request(
            served.url + "/dav/files/mine/lettre.txt", headers={"Authorization": f"Basic {basic}"}
        )
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 200 and answer.read() == "v3 (3)".encode()


def counts(node: Node) -> dict[str, int]:
    with transaction(node.sessions) as session:
        tables = (Member, FileEntry, FileVersion, FileShare, DavProperty, Note, NoteUpdate,
                  Message, AIQuery, Device, AppToken)  # fmt: skip
        found = {
            t.__name__: session.scalar(select(func.count()).select_from(t)) or 0 for t in tables
        }
    exported = CalendarStore(node).export("alex")
    return {**found, "calendar": hash(tuple(sorted(exported.items())))}


def test_importing_twice_changes_nothing(moved: Moved) -> None:
    target = opened(moved.target)
    before = counts(target)
    target.close()
    again = hameau("import", str(moved.archive), "--data-dir", str(moved.target))
    assert again.returncode == 0, again.stderr
    assert "a member here now" not in again.stdout
    target = opened(moved.target)
    try:
        assert counts(target) == before
    finally:
        target.close()


def test_the_imported_note_keeps_merging_with_the_home_copy(moved: Moved) -> None:
    home, target = opened(moved.home), opened(moved.target)
    try:
        with transaction(home.sessions) as session:
            alex = members.find_member(session, "alex")
            [note] = notes.mine(session, alex)
            notes.save(
                session,
                alex,
                note,
                notes.revision(session, note),
                "# Idées\n\nUn potager partagé\nDes tomates\n",
            )
            uid, update = note.uid, notes.update_since(session, note, None)
        with transaction(target.sessions) as session:
            alex = members.find_member(session, "alex")
            [note] = notes.mine(session, alex)
            assert note.uid == uid
            base = notes.revision(session, note)
            notes.save(session, alex, note, base, "# Idées du jardin\n\nUn potager partagé\n")
            notes.receive(session, alex, uid, update, deleted=None)
            assert (
                notes.text_of(session, note)
                == "# Idées du jardin\n\nUn potager partagé\nDes tomates\n"
            )
    finally:
        home.close()
        target.close()

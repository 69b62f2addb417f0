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
from hameau.files import dav_props, quota, shares
from hameau.files import service as files
from hameau.files.models import DavProperty, FileEntry, FileShare, FileVersion
from hameau.files.retention import versions
from hameau.ledger import service as ledger
from hameau.messages import service as messages
from hameau.messages.models import Message
from hameau.node.datadir import Node, open_node
from hameau.node.db import transaction
from hameau.notes import service as notes
from hameau.notes.models import Note, NoteUpdate
from tests.e2e.served import serve
from tests.helpers import PASSWORD, add_member, browser, live_files, log_in, make_node

CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:louise-1\r\nFN:Louise Martin\r\nEMAIL:louise@example.org\r\nEND:VCARD\r\n"
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
        members.set_locale(alex, "en")
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
        files.make_folder(session, alex, mine, ["vieux"])
        write(node, session, alex, ["vieux", "ancien.txt"], b"old things")
        files.trash(session, alex, files.resolve(session, mine, ["vieux"]))
        shares.share(session, alex, files.resolve(session, mine, ["photos"]), sam)
        lettre = files.resolve(session, mine, ["lettre.txt"])
        dav_props.put(session, alex, lettre.id, PROP, b"<colour>blue</colour>")
        notes.create(session, alex, "# Idées\n\nUn potager partagé\n")
        thread = messages.start(session, alex, [sam], "Potager", "On s'y met ?")
        messages.post(session, sam, thread, "Oui, samedi !")
        session.add(
            AIQuery(
                member_id=alex.id,
                kind="ask",
                model="gemma",
                question="Cuisson ?",
                answer="35 minutes",
                sources=[{"title": "tarte.txt"}],
            )
        )
        session.add(Workspace(member_id=alex.id, app="notes", path="/notes/1", title="Idées"))
        ledger.member_account(node, session, alex)  # the key and account moving home carries
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
        live = live_files(session, member)
        trash = files.trashed(session, member)
        photos = files.resolve(session, files.space(member, "mine"), ["photos"])
        return {
            "live": {path: (entry.blob, entry.revision) for path, entry in live},
            "versions": {path: [v.blob for v in versions(session, entry)] for path, entry in live},
            "folders": [
                e.name
                for e in files.children(session, files.root(session, files.space(member, "mine")))
                if e.is_dir
            ],
            "trash": sorted(
                (
                    entry.deleted_from,
                    entry.blob,
                    [(p, e.blob) for p, e in files.files_below(session, entry)],
                )
                for entry in trash
            ),
            "shared": [
                members.get_member(session, s.member_id or 0).name
                for s in shares.shares_of(session, photos)
            ],
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
        assert [item[0] for item in after["trash"]] == ["brouillon.txt", "vieux"]  # type: ignore[union-attr]
        assert after["trash"][1][2] == [
            ("vieux/ancien.txt", hashlib.sha256(b"old things").hexdigest())
        ]  # type: ignore[index]
        assert after["shared"] == ["sam"]  # type: ignore[index]
        assert after["props"] == [b"<colour>blue</colour>"] and "vide" in after["folders"]  # type: ignore[operator]
        for digest, _revision in after["live"].values():  # type: ignore[attr-defined]
            assert target.blobs.verify(digest) is None
        with transaction(target.sessions) as session:
            sam = members.find_member(session, "sam")
            assert [entry.name for entry in shares.shared_with(session, sam)] == ["photos"]
            alex = members.find_member(session, "alex")
            # The quota counter counted what the import wrote, as a full recount finds it.
            assert quota.usage(session, alex.id) == quota.recount(session, alex.id) > 0
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
        assert [(c.name, c.emails) for c in store.contacts("alex")] == [
            ("Louise Martin", ["louise@example.org"])
        ]
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
            assert not alex.is_admin and alex.locale == "en"
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
            assert answer.status == 200 and answer.read() == b"v3 (3)"


def counts(node: Node) -> dict[str, int]:
    with transaction(node.sessions) as session:
        tables = (
            Member,
            FileEntry,
            FileVersion,
            FileShare,
            DavProperty,
            Note,
            NoteUpdate,
            Message,
            AIQuery,
            Device,
            AppToken,
        )
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


# ---------------------------------------------------------------- hostile archives


def repack(
    source: Path, out: Path, extra: dict[str, bytes] | None = None, **manifest_change: object
) -> Path:
    """The archive again, with entries added (listed truly in its manifest) and the manifest's
    entries or header changed as asked."""
    with zipfile.ZipFile(source) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        contents = {
            name: archive.read(name) for name in archive.namelist() if name != "manifest.json"
        }
    for name, data in (extra or {}).items():
        contents[name] = data
        manifest["entries"] = [entry for entry in manifest["entries"] if entry["path"] != name]
        manifest["entries"].append(
            {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )
    for entry in manifest["entries"]:
        entry.update(manifest_change.get(entry["path"], {}))  # type: ignore[call-overload]
    manifest.update(manifest_change.get("header", {}))  # type: ignore[call-overload]
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data, zipfile.ZIP_DEFLATED)
        archive.writestr("manifest.json", json.dumps(manifest))
    return out


def flipped(source: Path, out: Path) -> Path:
    """One byte of a file's stored content changed in place."""
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo("files/photos/plage.jpg")
    name_length = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    data[start + info.compress_size // 2] ^= 0x01
    out.write_bytes(bytes(data))
    return out


def huge(source: Path, out: Path) -> Path:
    """An entry whose zip header and manifest both declare 4 GiB for a few bytes."""
    repack(source, out, **{"files/lettre.txt": {"size": 0xFFFFFFF0}})
    data = bytearray(out.read_bytes())
    with zipfile.ZipFile(out) as archive:
        info = archive.getinfo("files/lettre.txt")
    name = b"files/lettre.txt"
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 24 : central + 28] = (0xFFFFFFF0).to_bytes(4, "little")
    data[info.header_offset + 22 : info.header_offset + 26] = (0xFFFFFFF0).to_bytes(4, "little")
    out.write_bytes(bytes(data))
    return out


def escaping(source: Path) -> bytes:
    """files.json with a file sent out of the member's space, its hash told truly."""
    with zipfile.ZipFile(source) as archive:
        index = json.loads(archive.read("files.json"))
    index["files"][0]["path"] = "../../escaped.txt"
    return json.dumps(index).encode()


HOSTILE = {
    "truncated": lambda good, out: (
        out.write_bytes(good.read_bytes()[: good.stat().st_size // 2]) and out
    ),
    "one byte flipped": flipped,
    "manifest lies about a size": lambda good, out: repack(
        good, out, **{"files/lettre.txt": {"size": 3}}
    ),
    "path traversal": lambda good, out: repack(good, out, {"../x": b"escape"}),
    "absolute path": lambda good, out: repack(good, out, {"/tmp/x": b"escape"}),
    "huge declared size": huge,
    "index naming ../": lambda good, out: repack(good, out, {"files.json": escaping(good)}),
    "unknown format": lambda good, out: repack(good, out, header={"format": "other/9"}),
    "JSON nested past Python's stack": lambda good, out: repack(
        good, out, {"files.json": b"[" * 100_000 + b"]" * 100_000}
    ),
}


@pytest.mark.parametrize("damage", list(HOSTILE))
def test_a_damaged_or_hostile_archive_is_refused_before_anything_is_written(
    moved: Moved, tmp_path: Path, damage: str
) -> None:
    bad = HOSTILE[damage](moved.archive, tmp_path / "bad.zip")
    make_node(tmp_path / "fresh").close()
    refused = hameau("import", str(bad), "--data-dir", str(tmp_path / "fresh"))
    assert refused.returncode == 1, refused.stdout
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "archive" in line, line
    fresh = opened(tmp_path / "fresh")
    try:
        with transaction(fresh.sessions) as session:
            assert session.scalar(select(func.count(Member.id))) == 0
        assert fresh.blobs.stored() == []
    finally:
        fresh.close()
    assert not (tmp_path / "x").exists()


def test_a_name_clash_is_refused_and_as_imports_under_another_name(
    moved: Moved, tmp_path: Path
) -> None:
    node = make_node(tmp_path / "other")
    add_member(node, "alex")  # another Alex lives there
    node.close()
    refused = hameau("import", str(moved.archive), "--data-dir", str(tmp_path / "other"))
    assert refused.returncode == 1 and "--as" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    done = hameau(
        "import", str(moved.archive), "--as", "alex2", "--data-dir", str(tmp_path / "other")
    )
    assert done.returncode == 0, done.stderr
    node = opened(tmp_path / "other")
    try:
        assert files_of(node, "alex2")["shared"] == []  # no sam there: the share is skipped
        assert "share with 'sam'" in done.stdout
    finally:
        node.close()


def test_an_archive_larger_than_the_quota_is_refused(moved: Moved, tmp_path: Path) -> None:
    make_node(tmp_path / "tight").close()
    tight = ("--data-dir", str(tmp_path / "tight"))
    refused = hameau("import", str(moved.archive), "--quota-mb", "0", *tight)
    assert refused.returncode == 1 and "quota" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    node = opened(tmp_path / "tight")
    try:
        with transaction(node.sessions) as session:
            assert session.scalar(select(func.count(Member.id))) == 0
    finally:
        node.close()
    assert hameau("import", str(moved.archive), "--quota-mb", "1", *tight).returncode == 0


def test_an_archive_larger_than_the_free_disk_is_refused(moved: Moved, tmp_path: Path) -> None:
    from tests.e2e.test_full_disk import small_disk

    with small_disk(tmp_path / "small", "40m") as folder:
        make_node(folder / "node").close()
        refused = hameau("import", str(moved.archive), "--data-dir", str(folder / "node"))
        assert refused.returncode == 1 and "disk" in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        node = opened(folder / "node")
        try:
            with transaction(node.sessions) as session:
                assert session.scalar(select(func.count(Member.id))) == 0
        finally:
            node.close()


def test_an_archive_larger_than_the_content_disk_is_refused(moved: Moved, tmp_path: Path) -> None:
    """The content store on a disk of its own (mounted apart from the data dir): its room is
    what counts."""
    from tests.e2e.test_full_disk import small_disk

    make_node(tmp_path / "apart").close()
    with small_disk(tmp_path / "apart" / "blobs", "40m") as store:
        (store / "tmp").mkdir()
        refused = hameau("import", str(moved.archive), "--data-dir", str(tmp_path / "apart"))
        assert refused.returncode == 1 and "disk" in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1


def test_every_part_reports_what_the_member_uses_there(moved: Moved) -> None:
    from hameau import parts

    target = opened(moved.target)
    try:
        with transaction(target.sessions) as session:
            alex = members.find_member(session, "alex")
            used = {
                part.name: adapter.usage(target, session, alex)
                for part, adapter in parts.adapters()
                if adapter.usage is not None
            }
        assert set(used) == {"files", "calendar", "notes", "messages", "ai", "accounts", "ledger"}
        assert all(usage.bytes > 0 and usage.rows > 0 for usage in used.values()), used
        assert used["ai"].rows == 1 and used["files"].bytes >= 6000
    finally:
        target.close()

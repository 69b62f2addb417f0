"""The file store's rules, the same for every door: versions, trash, dedup, quota, names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from hameau.accounts import members
from hameau.errors import BadRequest, Conflict, InsufficientStorage, NotFound
from hameau.files import paths, quota, retention
from hameau.files import service as files
from hameau.files.models import FileEntry
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from tests.helpers import add_member


def write(node: Node, name: str, path: str, data: bytes, key: str = "mine") -> FileEntry:
    with transaction(node.sessions) as session:
        member = members.find_member(session, name)
        plan = files.plan_write(
            session, member, files.space(member, key), paths.split(path), len(data)
        )
        if len(data) > plan.limit:
            raise quota.over_quota()
        digest = node.blobs.put(data)
        return files.record_write(session, plan, member, digest, len(data))


def read(node: Node, name: str, path: str, key: str = "mine") -> bytes:
    with transaction(node.sessions) as session:
        member = members.find_member(session, name)
        _, entry = files.locate(session, member, key, path)
        assert entry.blob
        return node.blobs.read(entry.blob)


def blob_count(node: Node) -> int:
    return len(list(node.blobs.root.glob("??/??/*")))


@pytest.mark.parametrize(
    "bad", ["..", "../x", "a/../../b", ".", "a\x00b", "tab\there", "x" * 256, "a/\x7f", "%00"]
)
def test_names_that_escape_or_hide_are_refused(bad: str) -> None:
    if bad == "%00":
        return  # a literal '%00' is a fine name: decoding happens before, in the HTTP layer
    with pytest.raises(BadRequest):
        paths.split(bad)


def test_absolute_and_odd_paths_are_refused_not_reinterpreted() -> None:
    for bad in ("/etc/passwd", "a\\b", "a//b", "//x", "\\server\\share"):
        with pytest.raises(BadRequest):
            paths.split(bad)
    assert paths.split("photos/été 2024/") == ["photos", "été 2024"]
    assert paths.split("") == []


def test_overwrites_keep_the_last_versions_and_identical_content_is_stored_once(node: Node) -> None:
    add_member(node, "alex")
    for number in range(retention.VERSIONS_KEPT + 3):
        write(node, "alex", "notes.txt", f"version {number}".encode())
    assert read(node, "alex", "notes.txt") == f"version {retention.VERSIONS_KEPT + 2}".encode()
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        _, entry = files.locate(session, member, "mine", "notes.txt")
        kept = retention.versions(session, entry)
        assert len(kept) == retention.VERSIONS_KEPT
        files.restore_version(session, member, entry, kept[-1].id)
    assert read(node, "alex", "notes.txt") == b"version 2"
    before = blob_count(node)
    write(node, "alex", "copy.txt", b"version 2")
    assert blob_count(node) == before


def test_trash_keeps_things_30_days_and_restores_them(node: Node) -> None:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        files.make_folder(session, member, files.space(member, "mine"), ["photos"])
    write(node, "alex", "photos/a.jpg", b"jpeg")
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        _, folder = files.locate(session, member, "mine", "photos")
        files.trash(session, member, folder)
    with transaction(node.sessions) as session, pytest.raises(NotFound):
        files.locate(session, members.find_member(session, "alex"), "mine", "photos/a.jpg")
    write(node, "alex", "photos", b"a file where the folder was")  # the name is free again
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        [item] = files.trashed(session, member)
        restored = files.restore(session, member, item.id)
        assert restored.name == "photos (2)"
    assert read(node, "alex", "photos (2)/a.jpg") == b"jpeg"

    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        _, entry = files.locate(session, member, "mine", "photos")
        files.trash(session, member, entry)
        session.execute(
            update(FileEntry)
            .values(deleted_at=utcnow() - timedelta(days=31))
            .where(FileEntry.id == entry.id)
        )
    with transaction(node.sessions) as session:
        assert files.trashed(session, members.find_member(session, "alex")) == []


def test_quota_counts_files_versions_and_trash(node: Node) -> None:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        members.set_quota(members.find_member(session, "alex"), 1)  # 1 MB
    write(node, "alex", "a.bin", b"x" * 600_000)
    write(node, "alex", "a.bin", b"y" * 300_000)  # the first stays as a version
    with pytest.raises(InsufficientStorage):
        write(node, "alex", "b.bin", b"z" * 200_000)
    with transaction(node.sessions) as session:
        assert quota.usage(session, members.find_member(session, "alex").id) == 900_000


def test_a_folder_cannot_move_into_itself_and_moves_carry_their_content(node: Node) -> None:
    add_member(node, "alex")
    write(node, "alex", "a.txt", b"a")
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        mine = files.space(member, "mine")
        outer = files.make_folder(session, member, mine, ["outer"])
        inner = files.make_folder(session, member, mine, ["outer", "inner"])
        with pytest.raises(Conflict):
            files.move(session, member, outer, inner, "outer")
        household = files.root(session, files.space(member, "household"))
        files.move(session, member, outer, household, "shared-now")
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        sam = members.find_member(session, "sam")
        _, found = files.locate(session, sam, "household", "shared-now/inner")
        assert found.is_dir

"""The files journal: every change, through any door, leaves its path's vector and content
(or a tombstone) for a satellite to ask for later."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from hameau.accounts import members, tokens
from hameau.files import journal, retention
from hameau.files import service as files
from hameau.files.models import FileEntry
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from tests.helpers import add_member, browser


def setup(node: Node) -> tuple[int, dict[str, str], object]:
    member_id = add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "t")[1]
    return member_id, {"Authorization": f"Bearer {secret}"}, browser(node)


def states(node: Node, owner: int | None, *paths: str):  # type: ignore[no-untyped-def]
    with node.sessions() as session:
        return [journal.state(session, owner, path) for path in paths]


def test_writes_bump_the_vector_and_the_sequence(node: Node) -> None:
    alex, auth, client = setup(node)
    client.put("/api/files/mine/a.txt", content=b"one", headers=auth)
    client.put("/api/files/mine/a.txt", content=b"two", headers=auth)
    client.put("/api/files/mine/a.txt", content=b"two", headers=auth)  # same content: no change
    [state] = states(node, alex, "a.txt")
    assert list(state.vector.values()) == [2] and state.blob is not None
    with node.sessions() as session:
        assert list(state.vector) == [journal.replica(session)]
        changes = journal.changes_since(session, alex, 0)
        assert [change.path for change in changes] == ["a.txt"]
        assert journal.changes_since(session, alex, changes[-1].seq) == []


def test_a_folder_rename_leaves_tombstones_and_carries_the_content(node: Node) -> None:
    alex, auth, client = setup(node)
    client.post("/api/files/folders", json={"space": "mine", "path": "photos"}, headers=auth)
    client.put("/api/files/mine/photos/x.jpg", content=b"jpeg", headers=auth)
    moved = client.post("/api/files/move", json={"space": "mine", "path": "photos", "to_space": "household",
                                                 "to_path": "albums"}, headers=auth)  # fmt: skip
    assert moved.status_code == 200
    [old] = states(node, alex, "photos/x.jpg")
    [new] = states(node, None, "albums/x.jpg")
    assert old.deleted and not new.deleted and new.blob is not None


def test_trash_leaves_tombstones_that_outlive_the_purge_and_restore_revives(node: Node) -> None:
    alex, auth, client = setup(node)
    client.put("/api/files/mine/note.txt", content=b"hello", headers=auth)
    client.delete("/api/files/mine/note.txt", headers=auth)
    [gone] = states(node, alex, "note.txt")
    assert gone.deleted and list(gone.vector.values()) == [2]
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        [item] = files.trashed(session, member)
        files.restore(session, member, item.id)
    [back] = states(node, alex, "note.txt")
    assert not back.deleted and list(back.vector.values()) == [3]
    client.delete("/api/files/mine/note.txt", headers=auth)
    with transaction(node.sessions) as session:
        aged = utcnow() - timedelta(days=40)
        session.execute(
            update(FileEntry).where(FileEntry.deleted_at.is_not(None)).values(deleted_at=aged)
        )
    with transaction(node.sessions) as session:
        retention.purge_expired(session)
    [still] = states(node, alex, "note.txt")
    assert still.deleted  # a copy away for months still learns of the deletion

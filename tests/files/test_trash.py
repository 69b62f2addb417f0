"""Deleting for good: the trash emptied or one item of it (pages, API), an admin's purges
and space page; the content released leaves the disk at once, and never content another
file, a version or an upload in progress still needs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from hameau.accounts import members
from hameau.errors import Conflict
from hameau.files import paths, purge, quota, retention
from hameau.files import service as files
from hameau.files.models import FileEntry
from hameau.node import reserve
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from tests.files.test_http import token
from tests.helpers import add_member, browser, log_in, post_form


def stored(node: Node) -> set[str]:
    return {path.name for path in node.blobs.root.glob("??/??/*")}


def put(client, auth: dict[str, str], path: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    made = client.put(f"/api/files/{path}", content=data, headers=auth)
    assert made.status_code == 201, made.text


def test_emptying_the_trash_frees_the_space_at_once_and_keeps_shared_content(
    node: Node,
) -> None:
    add_member(node, "alex")
    client, auth = browser(node), token(node, "alex")
    for path, data in {
        "mine/big.bin": b"B" * 5000, "mine/copy.bin": b"same", "mine/kept.bin": b"same",
        "household/common.txt": b"household",
    }.items():  # fmt: skip
        put(client, auth, path, data)
    put(client, auth, "mine/big.bin", b"b" * 3000)  # the 5000 bytes become a version
    assert (
        client.post(
            "/api/files/folders", json={"space": "mine", "path": "album"}, headers=auth
        ).status_code
        == 201
    )
    put(client, auth, "mine/album/photo.jpg", b"photo")
    before = stored(node)
    for path in ("mine/big.bin", "mine/copy.bin", "mine/album", "household/common.txt"):
        assert client.delete(f"/api/files/{path}", headers=auth).status_code == 204
    assert stored(node) == before  # in the trash: still there, still restorable
    listed = client.get("/api/trash", headers=auth).json()["items"]
    assert {item["name"] for item in listed} == {"big.bin", "copy.bin", "album", "common.txt"}

    emptied = client.delete("/api/trash", headers=auth)
    assert emptied.status_code == 200
    assert emptied.json()["freed_bytes"] == 5000 + 3000 + len(b"photo")
    left = {item["name"] for item in client.get("/api/trash", headers=auth).json()["items"]}
    assert left == {"common.txt"}  # the household's trash is left to one item at a time
    assert len(before - stored(node)) == 3  # "same" is still kept.bin's content
    assert client.get("/api/files/mine/kept.bin", headers=auth).content == b"same"
    assert not list(node.blobs.temp_dir.iterdir())
    with transaction(node.sessions) as session:
        assert quota.usage(session, members.find_member(session, "alex").id) == 4 + 9


def test_one_item_deleted_for_good_from_the_trash_page(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    client, auth = browser(node), token(node, "alex")
    put(client, auth, "mine/a.txt", b"first")
    put(client, auth, "mine/b.txt", b"second")
    for name in ("a.txt", "b.txt"):
        client.delete(f"/api/files/mine/{name}", headers=auth)
    items = {i["name"]: i["id"] for i in client.get("/api/trash", headers=auth).json()["items"]}
    sam = token(node, "sam")
    assert client.delete(f"/api/trash/{items['a.txt']}", headers=sam).status_code == 404
    log_in(client, "alex")
    page = client.get("/files/trash")
    assert "Supprimer définitivement" in page.text and "Vider la corbeille" in page.text
    done = post_form(client, "/files/trash", f"/files/trash/{items['a.txt']}/delete")
    assert done.status_code == 303
    assert "b.txt" in client.get("/files/trash").text
    assert "a.txt" not in client.get("/files/trash").text
    assert post_form(client, "/files/trash", "/files/trash/empty").status_code == 303
    assert "La corbeille est vide." in client.get("/files/trash").text
    assert len(stored(node)) == 0


def test_admins_see_space_per_member_and_purge(node: Node) -> None:
    add_member(node, "root", admin=True)
    add_member(node, "alex")
    client, auth = browser(node), token(node, "alex")
    put(client, auth, "mine/doc.txt", b"v1" * 100)
    put(client, auth, "mine/doc.txt", b"v2" * 300)
    put(client, auth, "mine/old.txt", b"o" * 50)
    put(client, auth, "household/h.txt", b"h" * 70)
    client.delete("/api/files/mine/old.txt", headers=auth)
    client.delete("/api/files/household/h.txt", headers=auth)
    with transaction(node.sessions) as session:
        alex = members.find_member(session, "alex")
        usage = purge.space_used(session)[alex.id]
        assert (usage.files, usage.versions, usage.trash) == (600, 200, 120)
        assert usage.total == quota.usage(session, alex.id)
    quarantine = node.blobs.root / "quarantine"
    quarantine.mkdir()
    (quarantine / "x").write_bytes(b"q" * 1234)

    log_in(client, "alex")
    assert client.get("/admin/space").status_code == 403
    admin = browser(node)
    log_in(admin, "root")
    page = admin.get("/admin/space")
    assert page.status_code == 200 and "Quarantaine" in page.text
    assert "hameau check --purge-quarantine" in page.text and "1,2" in page.text
    alex_id = members_id(node, "alex")
    assert post_form(admin, "/admin/space", f"/admin/space/{alex_id}/versions").status_code == 303
    assert post_form(admin, "/admin/space", f"/admin/space/{alex_id}/trash").status_code == 303
    with transaction(node.sessions) as session:
        usage = purge.space_used(session)[alex_id]
        assert (usage.files, usage.versions, usage.trash) == (600, 0, 70)  # household's waits
    assert post_form(admin, "/admin/space", "/admin/space/household/trash").status_code == 303
    with transaction(node.sessions) as session:
        assert purge.space_used(session)[alex_id].trash == 0
    assert len(stored(node)) == 1  # only doc.txt's current content


def members_id(node: Node, name: str) -> int:
    with transaction(node.sessions) as session:
        return members.find_member(session, name).id


def test_content_an_upload_is_recording_is_never_left_dangling(node: Node) -> None:
    """An upload that found the content already stored (so wrote nothing), racing a purge
    of the only file holding that content: it is told to send again, never recorded."""
    add_member(node, "alex")
    client, auth = browser(node), token(node, "alex")
    put(client, auth, "mine/old.txt", b"same bytes")
    client.delete("/api/files/mine/old.txt", headers=auth)
    digest = node.blobs.put(b"same bytes")  # the upload's write: deduplicated
    with transaction(node.sessions) as session:
        alex = members.find_member(session, "alex")
        plan = files.plan_write(session, alex, files.space(alex, "mine"), paths.split("new.txt"))
    with transaction(node.sessions) as session:
        purge.empty_trash(session, members.find_member(session, "alex"), node.blobs)
    with pytest.raises(Conflict), transaction(node.sessions) as session:
        alex = members.find_member(session, "alex")
        files.record_write(session, plan, alex, digest, 10, "", node.blobs)
    assert client.get("/api/files/mine/", headers=auth).json()["entries"] == []
    put(client, auth, "mine/new.txt", b"same bytes")  # sent again: stored again
    assert client.get("/api/files/mine/new.txt", headers=auth).content == b"same bytes"


def test_a_purge_rolled_back_puts_the_content_back(node: Node) -> None:
    add_member(node, "alex")
    client, auth = browser(node), token(node, "alex")
    put(client, auth, "mine/a.txt", b"keep me")
    client.delete("/api/files/mine/a.txt", headers=auth)
    before = stored(node)
    with pytest.raises(RuntimeError), transaction(node.sessions) as session:
        purge.empty_trash(session, members.find_member(session, "alex"), node.blobs)
        assert stored(node) == set()
        raise RuntimeError("the transaction fails after the purge")
    assert stored(node) == before
    assert not list(node.blobs.temp_dir.iterdir())


def test_the_reserve_is_taken_with_room_and_given_back_only_when_low(node: Node) -> None:
    root = node.layout.root
    assert reserve.keep(root) and (root / reserve.NAME).stat().st_size == reserve.SIZE
    assert not reserve.release_if_low(root)  # plenty of room here: kept


def test_what_expired_from_the_trash_leaves_the_disk_when_the_trash_is_opened(
    node: Node,
) -> None:
    add_member(node, "alex")
    client, auth = browser(node), token(node, "alex")
    put(client, auth, "mine/old.txt", b"a month ago")
    put(client, auth, "mine/new.txt", b"yesterday")
    for name in ("old.txt", "new.txt"):
        client.delete(f"/api/files/mine/{name}", headers=auth)
    with transaction(node.sessions) as session:
        session.execute(
            update(FileEntry)
            .where(FileEntry.name == "old.txt")
            .values(deleted_at=utcnow() - timedelta(days=retention.TRASH_DAYS + 1))
        )
    listed = client.get("/api/trash", headers=auth).json()["items"]
    assert [item["name"] for item in listed] == ["new.txt"]
    assert len(stored(node)) == 1

"""Damaged content on disk, as the store and the pages see it: flipped, cut short, deleted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hameau.accounts import members
from hameau.files import retention
from hameau.files import service as files
from hameau.node.blobs import BlobDamaged, LocalBlobStore
from hameau.node.datadir import Node
from tests.blobstores import flip as flip_stored
from tests.files.test_store import write
from tests.helpers import add_member, browser, csrf_header, log_in, post_form


def flip(path: Path, at: int = 5) -> None:
    """Three bytes flipped in place, the size unchanged (what bit rot does)."""
    data = bytearray(path.read_bytes())
    for offset in range(at, at + 3):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# The store's own checks (damage refused, quarantined, repaired) run on every backend:
# tests/node/test_blob_stores.py.


def test_the_pages_mark_a_damaged_file_and_its_version_restores_it(any_store_node: Node) -> None:
    node = any_store_node  # on the local disk, and on S3
    add_member(node, "alex")
    write(node, "alex", "letter.txt", b"first draft\n")
    entry = write(node, "alex", "letter.txt", b"second draft, damaged soon\n")
    flip_stored(node.blobs, entry.blob or "")
    client = browser(node)
    log_in(client, "alex")

    download = client.get("/api/files/mine/letter.txt")
    assert download.status_code == 409 and download.json()["error"]
    assert (
        client.get("/api/files/mine/letter.txt", headers={"Range": "bytes=0-3"}).status_code == 409
    )
    folder = client.get("/files/mine/")
    assert "badge damaged" in folder.text
    page = client.get("/files/mine/letter.txt")
    assert "endommagé" in page.text and 'role="alert"' in page.text

    with node.sessions() as session:
        alex = members.find_member(session, "alex")
        (version,) = retention.versions(
            session, files.locate(session, alex, "mine", "letter.txt")[1]
        )
    restored = post_form(
        client, "/files/mine/letter.txt", "/files/version",
        space="mine", path="letter.txt", version=str(version.id),
    )  # fmt: skip
    assert restored.status_code == 303
    assert client.get("/api/files/mine/letter.txt").content == b"first draft\n"
    # The damaged content is now the earlier version: marked, and not offered for restoring.
    page = client.get("/files/mine/letter.txt").text
    assert page.count("badge damaged") == 1 and 'role="alert"' not in page


def test_uploading_the_same_bytes_over_a_damaged_file_repairs_it(any_store_node: Node) -> None:
    node = any_store_node  # on the local disk, and on S3
    add_member(node, "alex")
    data = os.urandom(40_000)
    entry = write(node, "alex", "photo.jpg", data)
    flip_stored(node.blobs, entry.blob or "")
    client = browser(node)
    log_in(client, "alex")
    assert client.get("/api/files/mine/photo.jpg").status_code == 409  # now quarantined
    put = client.put("/api/files/mine/photo.jpg", content=data, headers=csrf_header(client))
    assert put.status_code == 201
    assert client.get("/api/files/mine/photo.jpg").content == data
    assert "badge damaged" not in client.get("/files/mine/").text


def test_an_export_never_ships_damaged_content(node: Node, tmp_path: Path) -> None:
    from hameau.errors import Conflict
    from hameau.export import export_member

    member_id = add_member(node, "alex")
    write(node, "alex", "fine.txt", b"fine")
    entry = write(node, "alex", "photo.jpg", os.urandom(3 << 20))
    flip(node.blobs.path(entry.blob or ""), at=3 << 19)
    out = tmp_path / "alex.zip"
    with pytest.raises(Conflict) as refused:
        export_member(node, member_id, out)
    assert "photo.jpg" in str(refused.value)
    assert not out.exists() and not list(tmp_path.glob("alex.zip*"))


def test_the_travel_stream_is_cut_before_the_end_of_damaged_content(tmp_path: Path) -> None:
    from hameau.travel import wire

    store = LocalBlobStore(tmp_path / "blobs")
    good, bad = os.urandom(1000), os.urandom(3 << 20)
    digests = [store.put(good), store.put(bad)]
    flip(store.path(digests[1]), at=1 << 20)
    sent = b""
    with pytest.raises(BlobDamaged):
        for chunk in wire.send(store, digests):
            sent += chunk
    receiver = wire.Receiver(LocalBlobStore(tmp_path / "other"))
    receiver.feed(sent)
    with pytest.raises(wire.WireError):
        receiver.close()
    assert receiver.stored == [digests[0]]  # the sound one arrived; nothing of the other

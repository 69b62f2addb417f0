"""The neighbour's side in the process: sizes, offers and their withdrawal, the repository's
rules on disk (names, types, quota, the config), and how the routes are described."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from hameau.app import load_parts
from hameau.backup import offers
from hameau.backup.errors import BadObject, NoOffer, ObjectMissing, OverQuota
from hameau.backup.store import PeerRepository
from hameau.errors import BadRequest, Conflict
from hameau.hamlet.models import HamletPeer
from hameau.node.datadir import Node
from hameau.web.openapi import describe
from tests.helpers import browser

PREFIX = "/api/hamlet/backup"


@pytest.mark.parametrize(
    ("given", "size"),
    [("20G", 20 << 30), ("500M", 500 << 20), ("1.5T", int(1.5 * (1 << 40))), ("2GiB", 2 << 30),
     ("1024", 1024), ("3k", 3 << 10)],
)  # fmt: skip
def test_quotas_are_read_as_people_write_them(given: str, size: int) -> None:
    assert offers.parse_size(given) == size


@pytest.mark.parametrize("given", ["", "-1G", "0", "twenty", "20X", "1e9"])
def test_a_quota_that_is_not_a_size_is_refused(given: str) -> None:
    with pytest.raises(BadRequest):
        offers.parse_size(given)


def _peer(node: Node) -> HamletPeer:
    with node.sessions() as db:
        peer = HamletPeer(
            node_id="abcdefghijklmnop", name="voisins", address="https://192.0.2.7:8443",
            public_key="A" * 44, tls_fingerprint="f" * 43,
        )  # fmt: skip
        db.add(peer)
        db.commit()
        db.expunge(peer)
    return peer


def test_an_offer_withdrawn_keeps_the_data_until_deleted(node: Node) -> None:
    peer = _peer(node)
    with node.sessions() as db:
        offers.offer(db, peer, 1 << 20)
        db.commit()
    repository = PeerRepository(offers.folder(node, peer.node_id))
    repository.create()
    body = b"encrypted by the neighbour"
    repository.save("snapshots", hashlib.sha256(body).hexdigest(), body, 1 << 20)
    with node.sessions() as db:
        with pytest.raises(Conflict):  # still offered: withdraw first
            offers.delete_data(node, db, peer)
        offers.withdraw(db, peer)
        db.commit()
        with pytest.raises(NoOffer):
            offers.withdraw(db, peer)
        assert offers.used(node, peer.node_id) == len(body)
        assert offers.delete_data(node, db, peer) == len(body)
    assert not offers.folder(node, peer.node_id).exists()
    repository.create()  # offered again: a new repository, the same object in this process
    repository.save("snapshots", hashlib.sha256(body).hexdigest(), body, 1 << 20)
    assert repository.used() == len(body)


def test_the_repository_keeps_to_its_rules(tmp_path: Path) -> None:
    repository = PeerRepository(tmp_path / "peer")
    with pytest.raises(ObjectMissing):
        repository.listing("data")  # not created yet
    with pytest.raises(ObjectMissing):
        repository.size("data", "0" * 64)
    assert not (tmp_path / "peer").exists()  # nothing made by asking
    repository.create()
    body = b"x" * 1000
    name = hashlib.sha256(body).hexdigest()
    for kind, wrong in (("data", "0" * 64), ("tmp", name), ("config", name), ("..", name),
                        ("data", "../" + name[3:]), ("data", name.upper())):  # fmt: skip
        with pytest.raises(BadObject):
            repository.save(kind, wrong, body, 1 << 20)
    assert repository.used() == 0
    with pytest.raises(OverQuota):
        repository.save("data", name, body, 999)
    assert repository.used() == 0 and not list((tmp_path / "peer").rglob(name))
    repository.save("data", name, body, 1000)
    assert repository.listing("data") == [(name, 1000)]
    assert repository.read("data", name, 10, 5) == body[10:15]
    repository.save("config", "", b"restic's own", 2000)
    assert repository.size("config") == len(b"restic's own")
    with pytest.raises(BadObject):
        repository.delete("config", "")
    repository.delete("data", name)
    assert repository.used() == len(b"restic's own")
    with pytest.raises(ObjectMissing):
        repository.delete("data", name)


def test_a_write_cut_short_leaves_nothing_counted(tmp_path: Path) -> None:
    repository = PeerRepository(tmp_path / "peer")
    repository.create()
    leftover = tmp_path / "peer" / "data" / "tmp" / "upload-killed"
    leftover.write_bytes(b"half a pack")
    again = PeerRepository(tmp_path / "peer")  # the next process
    assert again.used() == 0 and not leftover.exists()


def test_the_routes_are_described_with_their_refusals(node: Node) -> None:
    spec = describe(load_parts(browser(node).app))  # type: ignore[arg-type]
    paths = {path: ops for path, ops in spec["paths"].items() if path.startswith(PREFIX)}
    assert set(paths) >= {PREFIX + "/", PREFIX + "/config", PREFIX + "/{kind}/{name}"}
    saving = paths[PREFIX + "/{kind}/{name}"]["post"]["responses"]
    assert {"400", "401", "403", "413", "507"} <= set(saving)


def _hameau(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hameau", "backup", *args, "--data-dir", str(node.layout.root)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_commands_offer_list_and_withdraw(node: Node) -> None:
    peer = _peer(node)
    done = _hameau(node, "offer", "nobody", "--quota", "1G")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "No paired home server is called nobody" in done.stderr
    done = _hameau(node, "offer", peer.name, "--quota", "lots")
    assert done.returncode == 1 and "20G" in done.stderr and done.stderr.count("\n") == 1
    done = _hameau(node, "offer", peer.name, "--quota", "20G")
    assert done.returncode == 0 and "20.0 GiB" in done.stdout
    listed = _hameau(node, "offers")
    assert "voisins" in listed.stdout and "offered" in listed.stdout
    done = _hameau(node, "withdraw", peer.name)
    assert done.returncode == 0 and "--delete-data" in done.stdout
    assert "withdrawn" in _hameau(node, "offers").stdout
    done = _hameau(node, "withdraw", peer.name, "--delete-data")
    assert done.returncode == 0 and "deleted" in done.stdout

"""A home node and a satellite packed from it, in one process: the home's real app behind a
test client (an httpx client), the satellite's real node, and the real sync engine between.

Files are changed on either side the way every door does, through the files service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from starlette.testclient import TestClient

from hameau import trips
from hameau.accounts import members
from hameau.app import create_app
from hameau.errors import NotFound
from hameau.files import paths
from hameau.files import service as files
from hameau.files.models import FileEntry, FileVersion
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.node.peer import Peer
from hameau.travel import lifecycle, sync
from hameau.travel.satellite import Satellite
from tests.helpers import PASSWORD, add_member, make_node

HOME = "http://home.test"


@dataclass
class Pair:
    home: Node
    client: TestClient  # the home's app, in this process
    peer: Peer  # the satellite's way to its home, through that client
    sat: Node
    satellite: Satellite

    def sync(self) -> sync.Report:
        return sync.sync(self.sat, self.satellite, self.peer, domains=trips.domains())


def home_node(root: Path) -> Node:
    home = make_node(root)
    add_member(home, "alex")
    add_member(home, "sam")
    return home


def pack(home: Node, root: Path, takes: list[str], name: str = "laptop") -> Pair:
    client = TestClient(create_app(home), base_url=HOME)
    peer = Peer(HOME, client=client)
    sat, satellite = lifecycle.pack(HOME, "alex", PASSWORD, takes, root, name, peer)
    pair = Pair(home, client, peer, sat, satellite)
    pair.sync()
    return pair


def write(node: Node, path: str, data: bytes, space: str = "mine", member: str = "alex") -> None:
    digest = node.blobs.put(data)
    with transaction(node.sessions) as session:
        who = members.find_member(session, member)
        where = files.space(who, space)
        parts = paths.split(path)
        for depth in range(1, len(parts)):
            folder = files.resolve(session, where, parts[: depth - 1])
            if files.child(session, folder, parts[depth - 1]) is None:
                files.make_folder(session, who, where, parts[:depth])
        plan = files.plan_write(session, who, where, parts)
        files.record_write(session, plan, who, digest, len(data), "", node.blobs)


def delete(node: Node, path: str, space: str = "mine", member: str = "alex") -> bool:
    with transaction(node.sessions) as session:
        who = members.find_member(session, member)
        try:
            entry = files.resolve(session, files.space(who, space), paths.split(path))
        except NotFound:
            return False
        files.trash(session, who, entry)
        return True


def rename(node: Node, path: str, new_name: str, member: str = "alex") -> bool:
    with transaction(node.sessions) as session:
        who = members.find_member(session, member)
        where = files.space(who, "mine")
        parts = paths.split(path)
        try:
            entry = files.resolve(session, where, parts)
        except NotFound:
            return False
        folder = files.resolve(session, where, parts[:-1])
        if files.child(session, folder, new_name) is not None:
            return False
        files.move(session, who, entry, folder, new_name)
        return True


def live(
    node: Node, space: str = "mine", member: str = "alex", under: str = ""
) -> dict[str, bytes]:
    """Every file of a space (below a folder) with its content."""
    with node.sessions() as session:
        who = members.find_member(session, member)
        where = files.space(who, space)
        try:
            top = files.resolve(session, where, paths.split(under))
        except NotFound:
            return {}
        return {
            path: node.blobs.read(entry.blob or "")
            for path, entry in files.files_below(session, top)
        }


def kept(node: Node) -> set[bytes]:
    """Every content the node still holds anywhere: current, earlier versions, the trash."""
    with node.sessions() as session:
        digests = set(session.scalars(select(FileEntry.blob).where(FileEntry.blob.is_not(None))))
        digests |= set(session.scalars(select(FileVersion.blob)))
    return {node.blobs.read(digest) for digest in digests if digest}

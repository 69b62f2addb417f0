"""A paired peer as a place for this node's backups (target.Target): restic's REST backend
served by the peer (store_api.py), reached through the loopback proxy (proxy.py) that signs
every request restic makes. The peer stores only what restic encrypted with the household's
key, which never leaves this node."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hameau.backup.proxy import serving
from hameau.backup.target import Repository
from hameau.errors import Conflict
from hameau.hamlet import client, service

if TYPE_CHECKING:
    from hameau.node.datadir import Node

# restic waits for a pack's upload and the peer's fsync: longer than a page's call.
TIMEOUTS = {"timeout": 300.0, "connect": 10.0}


@dataclass(frozen=True)
class Space:
    """The room a peer gives this node's backups, as it answered."""

    quota: int
    used: int
    withdrawn: bool


def space_at(node: Node, peer_name: str) -> Space:
    """How much room a peer gives this node's backups and how much they use there."""
    with node.sessions() as db:
        peer = service.find(db, peer_name)
        db.expunge(peer)
    with client.to_peer(node, peer) as toward:
        found = toward.call("GET", "/api/hamlet/backup/space")
    return Space(int(found["quota"]), int(found["used"]), bool(found["withdrawn"]))


class PeerTarget:
    """Backups sent to a paired peer that offers this node space."""

    def __init__(self, node: Node, peer_name: str) -> None:
        self.node = node
        self.peer_name = peer_name
        self.label = f"peer {peer_name}"

    @contextmanager
    def open(self) -> Iterator[Repository]:
        with self.node.sessions() as db:
            peer = service.find(db, self.peer_name)
            db.expunge(peer)
        if peer.revoked_at is not None:
            raise Conflict(
                "%(peer)s is no longer paired with this home server; pair again, or back up"
                " elsewhere.",
                peer=peer.name,
            )
        # `always`: restic retries on its own; every request goes, whatever the last one did.
        toward = client.to_peer(self.node, peer, always=True, **TIMEOUTS)
        with toward, serving(toward) as proxy:
            # In the environment too: restic reads it there, out of the process list's sight.
            yield Repository(url=proxy.url, env={"RESTIC_REPOSITORY": proxy.url})

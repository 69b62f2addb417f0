"""A notary's nudge: after sealing a position, it tells its paired homes, which pull from it
(api.py's /nudge). One signed request per peer and position; nothing runs while idle."""

from __future__ import annotations

import logging

from hameau.hamlet import client
from hameau.hamlet import service as hamlet
from hameau.node.datadir import Node

log = logging.getLogger(__name__)


def send(node: Node, but: str | None = None) -> int:
    """Nudge every paired home but `but` (the one that just learnt the position); returns
    how many answered."""
    with node.sessions() as db:
        peers = [p for p in hamlet.peers(db) if p.revoked_at is None and p.node_id != but]
        for peer in peers:
            db.expunge(peer)
    told = 0
    for peer in peers:
        try:
            with client.to_peer(node, peer) as toward:
                toward.call("POST", "/api/hamlet/ledger/nudge", content=b"{}")
            told += 1
        except Exception as error:  # a peer down catches up on its next pull
            log.info("ledger nudge to %s failed: %s", peer.name, error)
    return told


def quietly(node: Node) -> None:
    """send, from a thread: nothing it meets is more than a line in the log."""
    try:
        send(node)
    except Exception as error:
        log.info("ledger nudges failed: %s", error)

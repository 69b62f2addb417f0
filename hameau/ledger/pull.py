"""Pulling the hamlet's ledger from a paired home: pages of positions after this replica's
head, each verified before it is stored (replica.py), until the peer has nothing newer.

When: on demand (`hameau ledger sync [PEER]`, the credit page), and when a notary nudges this
node after sealing a position; never on a timer."""

from __future__ import annotations

import json
import logging

from sqlalchemy.orm import Session

from hameau.hamlet import client
from hameau.hamlet import service as hamlet
from hameau.hamlet.models import HamletPeer
from hameau.ledger import journal, replica
from hameau.ledger.errors import NoNotary, ReplicaRefused
from hameau.node.datadir import Node

log = logging.getLogger(__name__)
PATH = "/api/hamlet/ledger/positions"


def pull_into(node: Node, session: Session, peer: HamletPeer) -> replica.Pulled:
    """Every position the peer holds beyond this replica's head, verified, page by page, in
    the caller's transaction (ReplicaRefused at the first that does not verify)."""
    found = journal.head(session)
    total = replica.Pulled(head=found.seq if found else 0)
    with client.to_peer(node, peer, always=True) as toward:
        while True:
            page = toward.call("GET", PATH, params={"after": total.head})
            pulled = replica.accept_page(session, page)
            total.stored += pulled.stored
            total.held += pulled.held
            moved = pulled.head > total.head
            total.head = pulled.head
            if not moved or total.head >= int(page.get("head", 0)):
                return total


def pull_from(node: Node, peer: HamletPeer) -> replica.Pulled:
    """pull_into in a transaction of its own; what verified before a refusal is kept."""
    with node.sessions() as session:
        try:
            return pull_into(node, session, peer)
        finally:
            session.commit()


def candidates(node: Node, name: str | None) -> list[HamletPeer]:
    """The peer named, or the ledger's notaries among the paired homes (all paired homes
    while this node holds no ledger yet)."""
    with node.sessions() as db:
        if name is not None:
            found = [hamlet.find(db, name)]
        else:
            head = journal.head(db)
            notaries = set(json.loads(head.notaries)) if head is not None else set()
            paired = [p for p in hamlet.peers(db) if p.revoked_at is None]
            found = [p for p in paired if p.node_id in notaries] or (
                [] if head is not None and node.identity.node_id in notaries else paired
            )
        for peer in found:
            db.expunge(peer)
    return found


def sync(node: Node, name: str | None = None) -> replica.Pulled:
    """Pull from the peer named, or from the first notary that answers."""
    peers = candidates(node, name)
    if not peers:
        raise NoNotary(
            "No paired home holds the hamlet's ledger for this one to pull; this home is its"
            " notary, or pair with the home that is (`hameau hamlet join`)."
        )
    failure: Exception | None = None
    for peer in peers:
        try:
            return pull_from(node, peer)
        except ReplicaRefused:
            raise
        except Exception as error:  # a peer down: try the next notary
            log.info("ledger pull from %s failed: %s", peer.name, error)
            failure = error
    assert failure is not None
    raise failure

"""Entries written at a home that is not the ledger's notary: signed here with the author's
key (kept by this home), sent to the sequencing notary over the signed channel, and learnt
back by pulling the position it took (verified like any other).

With one notary, it is that notary. With several, the current round's proposer
(notarise.py), for notaries and other homes alike."""

from __future__ import annotations

import json
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.hamlet import client
from hameau.hamlet import service as hamlet
from hameau.hamlet.models import HamletPeer
from hameau.ledger import finality, journal, pull
from hameau.ledger.errors import NoNotary, ReplicaRefused
from hameau.ledger.models import LedgerEntry, LedgerHead
from hameau.node.datadir import Node
from hameau.node.peer import PeerFailed

log = logging.getLogger(__name__)
PATH = "/api/hamlet/ledger/entries"


def is_notary(node: Node, found: LedgerHead | None) -> bool:
    return found is None or node.identity.node_id in json.loads(found.notaries)


def notary_peer(session: Session, found: LedgerHead) -> HamletPeer:
    """The paired home that sequences: the first notary this home is paired with."""
    paired = {p.node_id: p for p in hamlet.peers(session) if p.revoked_at is None}
    for notary in sorted(json.loads(found.notaries)):
        if notary in paired:
            return paired[notary]
    raise NoNotary(
        "This home is paired with none of the ledger's notaries; pair with the home that"
        " keeps the hamlet's ledger."
    )


def submit(
    node: Node, session: Session, author: str, kind: str, body: dict, ts: int | None = None
) -> journal.Appended:
    """Sign the entry here and have it sequenced: with several notaries, by the current
    round's proposer (notarise.py); else by the one notary. A notary's refusal comes back as
    its sentence."""
    found = journal.head(session)
    assert found is not None
    from hameau.ledger import notarise

    if notarise.several(found):
        return notarise.submit(node, session, author, kind, body, ts)
    text, signature = journal.signed_entry(node, session, author, kind, body, ts)
    paired = {p.node_id: p for p in hamlet.peers(session) if p.revoked_at is None}
    failure: Exception | None = None
    for notary in finality.succession(json.loads(found.notaries)):
        peer = paired.get(notary)
        if peer is None:
            continue
        try:
            return _sent(node, session, peer, text, signature, kind, body)
        except PeerFailed as error:
            if error.answered:  # it refused: its sentence, not the next notary's
                raise
            log.info("notary %s did not answer: %s", peer.name, error)
            failure = error
    raise failure or NoNotary(
        "This home is paired with none of the ledger's notaries; pair with the home that"
        " keeps the hamlet's ledger."
    )


def _sent(
    node: Node, session: Session, peer: HamletPeer, text: bytes, signature: str, kind: str,
    body: dict,
) -> journal.Appended:  # fmt: skip
    with client.to_peer(node, peer, always=True) as toward:
        answer = toward.call("POST", PATH, json={"entry": text.decode(), "signature": signature})
    pull.pull_into(node, session, peer)
    position = session.scalars(
        select(LedgerEntry).where(LedgerEntry.seq == int(answer["seq"]))
    ).one()
    return journal.Appended(position, journal.escrow_of(session, kind, text, body))


def adopt(node: Node, session: Session) -> bool:
    """Before a home starts a ledger of its own: pull the hamlet's from its paired homes;
    True if one of them had it."""
    peers = [p for p in hamlet.peers(session) if p.revoked_at is None]
    for peer in peers:
        try:
            pulled = pull.pull_into(node, session, peer)
        except ReplicaRefused:
            raise
        except Exception as error:  # a peer down or without the ledger: ask the next one
            log.info("no ledger from %s: %s", peer.name, error)
            continue
        if pulled.head > 0:
            return True
    return False


def fresh(node: Node, session: Session) -> None:
    """Before a command or a page reads the ledger at a home that is not its only notary: pull
    what the notaries made final since, from the first that answers (best effort: with none
    reachable the replica stays as it is)."""
    found = journal.head(session)
    notaries = json.loads(found.notaries) if found is not None else {}
    me = node.identity.node_id
    if found is None or (me in notaries and len(notaries) == 1):
        return
    paired = {p.node_id: p for p in hamlet.peers(session) if p.revoked_at is None}
    for notary in finality.succession(notaries):
        if notary == me or notary not in paired:
            continue
        try:
            pull.pull_into(node, session, paired[notary])
            return
        except ReplicaRefused:
            raise
        except Exception as error:
            log.info("the ledger could not be refreshed from %s: %s", notary, error)

"""Entries written at a home that is not the ledger's notary: signed here with the author's
key (kept by this home), sent to the sequencing notary over the signed channel, and learnt
back by pulling the position it took (verified like any other).

The sequencing notary is the first of the ledger's notaries (by node id, the order the
ledger keeps them in) that is paired with this home."""

from __future__ import annotations

import json
import logging
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.hamlet import client
from hameau.hamlet import service as hamlet
from hameau.hamlet.models import HamletPeer
from hameau.ledger import crypto, journal, pull, rules
from hameau.ledger.errors import NoNotary, ReplicaRefused
from hameau.ledger.models import LedgerAccount, LedgerEntry, LedgerEscrow, LedgerHead
from hameau.node.datadir import Node

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
    """Sign the entry here, have the notary sequence it, and store its position once pulled
    and verified. The notary's refusal comes back as its sentence (PeerFailed)."""
    found = journal.head(session)
    assert found is not None
    account = session.get(LedgerAccount, author)
    nonce = (account.nonce if account is not None else 0) + 1
    when = max(int(time.time()) if ts is None else ts, found.last_ts)
    text = rules.Entry(kind, author, nonce, when, body).canonical()
    signature = crypto.b64(journal.signer(node, session, author)(crypto.ENTRY_PREFIX + text))
    peer = notary_peer(session, found)
    with client.to_peer(node, peer, always=True) as toward:
        answer = toward.call("POST", PATH, json={"entry": text.decode(), "signature": signature})
    pull.pull_into(node, session, peer)
    position = session.scalars(
        select(LedgerEntry).where(LedgerEntry.seq == int(answer["seq"]))
    ).one()
    return journal.Appended(position, _escrow(session, kind, text, body))


def _escrow(session: Session, kind: str, text: bytes, body: dict) -> rules.Escrow | None:
    if not kind.startswith("escrow_"):
        return None
    name = crypto.content_id(text) if kind == "escrow_open" else str(body.get("escrow"))
    row = session.get(LedgerEscrow, name)
    return journal.to_escrow(row) if row is not None else None


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
    """Before a command or a page reads the ledger at a home that is not a notary: pull what
    the notary sealed since (best effort: a notary down leaves the replica as it is)."""
    found = journal.head(session)
    if found is None or is_notary(node, found):
        return
    try:
        pull.pull_into(node, session, notary_peer(session, found))
    except ReplicaRefused:
        raise
    except Exception as error:
        log.info("the ledger could not be refreshed: %s", error)

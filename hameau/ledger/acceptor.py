"""A notary asked by a round's proposer (notarise.py): to promise a round (`prepare`), and to
check, vote and sign a position in it (`cosign`). Only the round's own proposer may ask; a
second, different position proposed in one round (equivocation) is refused and its proof kept
(votes.py). Every answer says where this notary stands: `ahead` (it holds that number final
already: pull from it), `behind` (it lacks final positions: send them along), `promised` (a
higher round: its proposer sequences now)."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.orm import Session

from hameau.hamlet.models import HamletPeer
from hameau.ledger import crypto, finality, journal, replica, rules, votes
from hameau.ledger.errors import Equivocation, LedgerBusy, NotNotary, ReplicaRefused
from hameau.ledger.models import LedgerEntry, LedgerHead
from hameau.ledger.verify import Problem, check_position
from hameau.node.datadir import Node

log = logging.getLogger(__name__)


def _notaries(node: Node, session: Session) -> tuple[LedgerHead, dict[str, str]]:
    found = journal.head(session)
    notaries = json.loads(found.notaries) if found is not None else {}
    if found is None or node.identity.node_id not in notaries:
        raise NotNotary("This home server is not one of the ledger's notaries.")
    return found, notaries


def _its_round(notaries: dict[str, str], peer: HamletPeer, round: int) -> None:
    if finality.proposer(notaries, round) != peer.node_id:
        raise NotNotary(
            "Round %(round)s is not this notary's to propose in; nothing was signed.", round=round
        )


def prepare(node: Node, session: Session, peer: HamletPeer, given: dict) -> dict[str, Any]:
    """Promise no vote below the round at that number; answer with the vote held there."""
    found, notaries = _notaries(node, session)
    seq, round = int(given["seq"]), int(given["round"])
    _its_round(notaries, peer, round)
    if seq <= found.seq:
        return {"refused": "ahead", "head": found.seq}
    try:
        state = votes.promise(node, seq, round)
    except votes.Refused as refusal:
        return {"refused": "promised", "round": refusal.promised}
    return {"promised": round, "accepted": state["accepted"]}


def _checked(node: Node, session: Session, row: LedgerEntry) -> dict[str, Any] | Problem | None:
    """The position checked against this replica at the number before it (None: it passes),
    or where this notary stands; read again if this home stored positions meanwhile."""
    for _ in range(replica.AGAIN):
        found, _ = _notaries(node, session)
        if row.seq <= found.seq:
            return {"refused": "ahead", "head": found.seq}
        if row.seq > found.seq + 1:
            return {"refused": "behind", "head": found.seq}
        entry = rules.Entry.parse(row.entry.encode())
        try:
            state = journal.state_for(session, found, entry)
        except LedgerBusy:  # a pull stored a position meanwhile: where this notary is now
            continue
        return check_position(state, row, found.entry_hash, [], notarised=False)
    raise LedgerBusy("The ledger moved on while this was written; try again.")


def cosign(node: Node, session: Session, peer: HamletPeer, given: dict) -> dict[str, Any]:
    """A position proposed in a round: checked against this replica, voted, signed."""
    row, _ = replica._row({**given, "signatures": [], "before": None})
    round, proposal = int(given.get("round") or 0), str(given.get("proposal") or "")
    found, notaries = _notaries(node, session)
    _its_round(notaries, peer, round)
    message = crypto.proposal_message(row.seq, round, row.entry_hash)
    if not crypto.verify(notaries[peer.node_id], message, proposal):
        raise ReplicaRefused("The proposal is not signed by its proposer; nothing was signed.")
    if row.seq > found.seq + 1 and given.get("before"):  # the final positions it lacks
        replica.accept_page(session, {"positions": given["before"]})
        session.commit()
    problem = _checked(node, session, row)
    if isinstance(problem, dict):
        return problem
    if problem is not None:
        raise ReplicaRefused(
            "The position to co-sign does not verify (%(problem)s); it was not signed.",
            problem=problem.message,
        )
    try:
        votes.accept(node, {**given, "seq": row.seq}, round, proposal, peer.node_id)
    except votes.Refused as refusal:
        if not refusal.equivocation:
            return {"refused": "promised", "round": refusal.promised}
        log.warning("notary %s proposed two positions at %s in round %s", peer.name, row.seq, round)
        raise Equivocation(
            "%(peer)s proposed another position at number %(seq)s in round %(round)s, after"
            " this notary signed one there: refused, and the proof kept.",
            peer=peer.name, seq=row.seq, round=round,
        ) from None  # fmt: skip
    signed = crypto.position_message(row.seq, row.entry_hash, round)
    return {
        "notary": node.identity.node_id,
        "signature": crypto.b64(node.identity.sign(signed)),
        "round": round,
    }

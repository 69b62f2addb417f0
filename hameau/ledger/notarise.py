"""Several notaries (finality.py has the rules): the sequencing notary proposes a position, the
others check it and co-sign it, and it is stored once a majority signed it.

The proposer (`propose`): reads the head, checks the entry with the rules, and asks the other
notaries, in the order of succession, to co-sign the position (`POST …/cosign`) until a
majority would have signed with itself; then records its own vote (votes.py) and signs, and
seals the position with every signature in the caller's transaction. Its signature exists only
in that transaction: if it dies before committing, nothing of it was given out.
A co-signer (`cosign`): checks the position against its own replica (behind, it says so, and
the proposer sends the final positions it lacks along), records its vote, then signs. A co-signer that voted another position
at that number answers with it; the proposer, if it has not voted there itself, takes that one
up first (a notary killed mid-append left it pending), then proposes its entry at the next
number. A co-signer further on than the proposer says so, and the proposer pulls first.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.orm import Session

from hameau.hamlet import client
from hameau.hamlet import service as hamlet
from hameau.hamlet.models import HamletPeer
from hameau.ledger import crypto, finality, journal, pull, replica, rules, votes
from hameau.ledger.errors import LedgerBusy, NotFinal, NotNotary, ReplicaRefused
from hameau.ledger.models import LedgerHead, LedgerSignature
from hameau.ledger.verify import check_position
from hameau.node.datadir import Node

log = logging.getLogger(__name__)
PATH = "/api/hamlet/ledger/cosign"
ROUNDS = 6  # positions taken up or pulled before this entry's own turn, at most


def several(found: LedgerHead | None) -> bool:
    return found is not None and len(json.loads(found.notaries)) > 1


def _position(found: LedgerHead, text: bytes, signature: str) -> dict[str, Any]:
    seq, prev = found.seq + 1, found.entry_hash
    return {
        "seq": seq, "entry": text.decode(), "signature": signature, "prev_hash": prev,
        "entry_hash": crypto.position_hash(seq, prev, text, signature),
    }  # fmt: skip


def _notary_peers(node: Node, session: Session, notaries: dict[str, str]) -> list[HamletPeer]:
    paired = {p.node_id: p for p in hamlet.peers(session) if p.revoked_at is None}
    me = node.identity.node_id
    return [paired[n] for n in finality.succession(notaries) if n != me and n in paired]


class _Outcome:
    def __init__(self) -> None:
        self.signed: list[LedgerSignature] = []
        self.other: dict[str, Any] | None = None  # a position voted there instead
        self.ahead: HamletPeer | None = None  # a notary further on than this one


def _gather(node: Node, session: Session, found: LedgerHead, position: dict) -> _Outcome:
    notaries = json.loads(found.notaries)
    need = finality.majority(len(notaries)) - 1  # this notary signs last
    outcome = _Outcome()
    for peer in _notary_peers(node, session, notaries):
        if len(outcome.signed) >= need:
            break
        answer = _ask(node, peer, position)
        if isinstance(answer, dict) and answer.get("refused") == "behind":
            # It lacks final positions this one holds (maybe not committed here yet): sent along.
            before = replica.page_after(session, int(answer.get("head", 0)))["positions"]
            answer = _ask(node, peer, {**position, "before": before})
        said = answer.get("signature") if isinstance(answer, dict) else None
        pair = [(peer.node_id, said)] if isinstance(said, str) else []
        if pair and finality.signers(notaries, position["seq"], position["entry_hash"], pair):
            outcome.signed.append(
                LedgerSignature(seq=position["seq"], notary=peer.node_id,
                                entry_hash=position["entry_hash"], signature=said)
            )  # fmt: skip
        elif isinstance(answer, dict) and answer.get("refused") == "voted":
            outcome.other = outcome.other or answer.get("position")
        elif isinstance(answer, dict) and answer.get("refused") == "ahead":
            outcome.ahead = outcome.ahead or peer
    return outcome


def _ask(node: Node, peer: HamletPeer, position: dict) -> Any:
    try:
        with client.to_peer(node, peer) as toward:
            return toward.call("POST", PATH, json=position)
    except Exception as error:  # down, paused or refusing: the next notary is asked
        log.info("co-signing by %s failed: %s", peer.name, error)
        return None


def _try(
    node: Node, session: Session, found: LedgerHead, text: bytes, signature: str
) -> journal.Appended | dict[str, Any] | HamletPeer:
    """One round at the next number: the sealed position, or a position to take up first,
    or a notary to pull from first. Raises rules.Refused, NotFinal."""
    entry = rules.Entry.parse(text)
    state = journal.state_for(session, found, entry)
    escrow = rules.apply(state, entry, signature)
    position = _position(found, text, signature)
    outcome = _gather(node, session, found, position)
    if outcome.ahead is not None:
        return outcome.ahead
    need = finality.majority(len(json.loads(found.notaries)))
    if len(outcome.signed) + 1 < need:
        if outcome.other is not None and votes.held(node, position["seq"]) is None:
            return outcome.other
        raise NotFinal(
            "Only %(signed)s of the %(count)s notaries could sign this entry, and a majority"
            " must: nothing was recorded. Try again when more notaries are reachable.",
            signed=len(outcome.signed) + 1, count=len(json.loads(found.notaries)),
        )  # fmt: skip
    mine = votes.cast(node, position)
    own = mine["entry_hash"] == position["entry_hash"]
    if not own and len(outcome.signed) < need:
        return mine  # this notary voted another position there meanwhile: that one first
    sealed = journal.seal(
        node, session, found, text, signature, entry, state, tuple(outcome.signed), own
    )
    journal._store(session, state)
    session.flush()
    return journal.Appended(sealed, escrow)


def propose(node: Node, session: Session, text: bytes, signature: str) -> journal.Appended:
    """Sequence a signed entry with the other notaries; the position is final when it returns.
    Raises rules.Refused (nothing written), NotFinal or LedgerBusy."""
    for _ in range(ROUNDS):
        found = journal.head(session)
        assert found is not None
        mine = votes.held(node, found.seq + 1)
        if (
            mine is not None
            and mine["entry_hash"] != _position(found, text, signature)["entry_hash"]
        ):
            _take_up(node, session, found, mine)  # a position this notary voted, first
            continue
        done = _try(node, session, found, text, signature)
        if isinstance(done, journal.Appended):
            return done
        if isinstance(done, HamletPeer):
            pull.pull_into(node, session, done)
        else:
            _take_up(node, session, found, done)
    raise LedgerBusy("The ledger moved on while this was written; try again.")


def _take_up(node: Node, session: Session, found: LedgerHead, position: dict) -> None:
    """Finish a position voted at the next number (left pending by a notary that stopped)."""
    if int(position.get("seq", 0)) != found.seq + 1 or position.get("prev_hash") != (
        found.entry_hash
    ):
        return
    try:
        done = _try(node, session, found, position["entry"].encode(), position["signature"])
    except rules.Refused:
        log.warning("a pending position %s does not pass the rules here", position["seq"])
        raise LedgerBusy("The ledger moved on while this was written; try again.") from None
    if isinstance(done, HamletPeer):
        pull.pull_into(node, session, done)


def cosign(node: Node, session: Session, peer: HamletPeer, given: dict) -> dict[str, Any]:
    """A notary asked by `peer` to co-sign a position: checked here, voted, signed."""
    row, _ = replica._row({**given, "signatures": [], "before": None})
    found = journal.head(session)
    if found is None or node.identity.node_id not in json.loads(found.notaries):
        raise NotNotary("This home server is not one of the ledger's notaries.")
    if row.seq > found.seq + 1 and given.get("before"):  # the final positions it lacks
        replica.accept_page(session, {"positions": given["before"]})
        session.commit()
        found = journal.head(session)
        assert found is not None
    if row.seq <= found.seq:
        return {"refused": "ahead", "head": found.seq}
    if row.seq > found.seq + 1:
        return {"refused": "behind", "head": found.seq}
    entry = rules.Entry.parse(row.entry.encode())
    state = journal.state_for(session, found, entry)
    problem = check_position(state, row, found.entry_hash, [], notarised=False)
    if problem is not None:
        raise ReplicaRefused(
            "The position to co-sign does not verify (%(problem)s); it was not signed.",
            problem=problem.message,
        )
    mine = votes.cast(node, {**given, "seq": row.seq})
    if mine["entry_hash"] != row.entry_hash:
        return {"refused": "voted", "position": mine}
    message = crypto.position_message(row.seq, row.entry_hash)
    return {"notary": node.identity.node_id, "signature": crypto.b64(node.identity.sign(message))}

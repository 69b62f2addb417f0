"""Several notaries: how a number gets its final position (finality.py has the rules every
replica checks; acceptor.py is the other notaries' side; docs/credit.md tells it in prose).

Single-decree Paxos per number, with rounds and one proposer per round (a stable leader):
- Round r's proposer is the r-th notary in the order of succession, modulo their count. A
  home believes current the round its head was made final in, or a higher one its notary
  promised at the next number (`round_of`); so the leader stays until it fails.
- Every home, notary or not, sends its members' entries to the current round's proposer
  (`submit`: `POST …/entries`, signed; this home itself if it is that proposer). One that does
  not answer (down, paused, in backoff) is passed over: the entry goes to the next round's
  proposer, asked to lead that round. A proposer told of a higher round (an acceptor promised
  it) sends the entry on to that round's proposer.
- The proposer (`lead`, one at a time per home): in a round above 0, it first asks a majority
  to promise no vote in a lower round (`…/prepare`); each answers with the position it voted
  last, if any, and the proposer proposes the one voted in the highest round, else its own
  entry (round 0 has no lower round: no prepare). Then it records its own vote and asks the
  others to sign the position in that round (`…/cosign`) until a majority did, and stores it
  with those signatures. Its own entry, if it was not that one, goes at the next number.
Safety rests on the votes (votes.py): never below a promised round, one position per round;
and on every signature being given only to a position checked by the rules against the state
at the number before it. That state is read in several statements outside a write transaction
while other writers of the home (its server's pulls, a command's) store positions: `state_for`
(journal.py) reads the head again after the accounts and raises LedgerBusy if it moved, so a
position stored meanwhile is never taken for what came before it (its own entry seen as a
replay, refused while final; a credit it brings, spendable); the caller reads again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from hameau.hamlet import client
from hameau.hamlet import service as hamlet
from hameau.hamlet.models import HamletPeer
from hameau.ledger import crypto, finality, journal, pull, replica, rules, votes
from hameau.ledger.errors import LedgerBusy, NotFinal, refused
from hameau.ledger.models import LedgerEntry, LedgerHead, LedgerSignature
from hameau.node.datadir import Node
from hameau.node.peer import PeerFailed

log = logging.getLogger(__name__)
ENTRIES = "/api/hamlet/ledger/entries"
PREPARE = "/api/hamlet/ledger/prepare"
COSIGN = "/api/hamlet/ledger/cosign"
STEPS = 8  # rounds tried, or numbers taken up before this entry's own, at most


def several(found: LedgerHead | None) -> bool:
    return found is not None and len(json.loads(found.notaries)) > 1


@dataclass(frozen=True)
class Led:
    """What a proposer did with an entry: final at `seq` (with `entry_hash`), or not its to
    sequence: `round` is the round whose proposer sequences now."""

    round: int
    seq: int | None = None
    entry_hash: str = ""
    stale: bool = False  # signed before the last final entry's time: to be signed again


def round_of(node: Node, session: Session, found: LedgerHead) -> int:
    """The round this home believes current at the next number."""
    done = session.scalar(
        select(func.max(LedgerSignature.round)).where(LedgerSignature.seq == found.seq)
    )
    state = None
    if node.identity.node_id in json.loads(found.notaries):
        state = votes.held(node, found.seq + 1)
    return max(done or 0, state["promised"] if state else 0)


def _position(found: LedgerHead, text: bytes, signature: str) -> dict[str, Any]:
    seq, prev = found.seq + 1, found.entry_hash
    return {
        "seq": seq, "entry": text.decode(), "signature": signature, "prev_hash": prev,
        "entry_hash": crypto.position_hash(seq, prev, text, signature),
    }  # fmt: skip


def _paired(session: Session) -> dict[str, HamletPeer]:
    return {p.node_id: p for p in hamlet.peers(session) if p.revoked_at is None}


def _already(session: Session, text: bytes) -> LedgerEntry | None:
    """This very entry, final already (an answer lost, the entry sent again)."""
    entry = rules.Entry.parse(text)
    found = select(LedgerEntry).where(
        LedgerEntry.author == entry.author, LedgerEntry.nonce == entry.nonce
    )
    return next((row for row in session.scalars(found) if row.entry == text.decode()), None)


def submit(
    node: Node, session: Session, author: str, kind: str, body: dict, ts: int | None = None
) -> journal.Appended:
    """Sign the entry here and have the current round's proposer make it final. The caller's
    transaction is committed first: nothing is held while notaries (maybe this home) are
    asked. Raises EntryRefused (the rules' sentence), NotFinal, LedgerBusy or PeerFailed."""
    session.flush()  # committed under the caller's feet (its `begin()` block goes on after)
    session.connection().connection.dbapi_connection.commit()  # type: ignore[union-attr]
    with votes.submitting(node), node.sessions() as fresh:

        def sign() -> tuple[bytes, str]:  # again, at the same nonce, if another came first
            fresh.rollback()
            when = None if ts is None else max(ts, int(time.time()))
            signed = journal.signed_entry(node, fresh, author, kind, body, when)
            fresh.rollback()
            return signed

        try:
            seq, text, signature = _sequenced(node, fresh, sign(), sign)
        except rules.Refused as refusal:
            raise refused(refusal.reason) from refusal
        fresh.commit()
    session.expire_all()
    position = session.scalars(select(LedgerEntry).where(LedgerEntry.seq == seq)).first()
    if position is None:  # final at its notary, not pulled here yet: final all the same
        entry = rules.Entry.parse(text)
        position = LedgerEntry(
            seq=seq, entry=text.decode(), signature=signature, prev_hash="", entry_hash="",
            kind=entry.kind, author=entry.author, nonce=entry.nonce, ts=entry.ts,
        )  # fmt: skip
    return journal.Appended(position, journal.escrow_of(session, kind, text, body))


def _sequenced(
    node: Node, session: Session, signed: tuple[bytes, str], sign: Callable[[], tuple[bytes, str]]
) -> tuple[int, bytes, str]:
    """Where the entry is final, its text and signature (signed again at the same nonce, so
    that at most one of its versions can be final, when one signed later was final first)."""
    text, signature = signed
    found = journal.head(session)
    assert found is not None
    notaries, me = json.loads(found.notaries), node.identity.node_id
    paired, round = _paired(session), round_of(node, session, found)
    failure: Exception | None = None
    for _ in range(STEPS * len(notaries)):
        chosen = finality.proposer(notaries, round)
        if chosen == me:
            led = lead(node, text, signature, round)
            if led.seq is not None:
                return led.seq, text, signature
            if led.stale:
                text, signature = sign()
                continue
            round = led.round if led.round > round else round + 1
            continue
        if chosen not in paired:
            round += 1  # a notary this home cannot reach: its rounds are passed over
            continue
        try:
            with client.to_peer(node, paired[chosen]) as toward:
                answer = toward.call("POST", ENTRIES, json={
                    "entry": text.decode(), "signature": signature, "round": round})  # fmt: skip
        except PeerFailed as error:
            if error.answered:  # it refused: its sentence
                raise
            log.info("proposer %s did not answer: %s", paired[chosen].name, error)
            failure, round = error, round + 1  # down: the next round's proposer takes over
            continue
        if answer.get("seq"):  # final: so the payer is told, even if the pull fails
            try:
                _pull(session, node, paired[chosen])
            except PeerFailed as error:  # this replica catches up on its next pull
                log.info("pulling from %s failed: %s", paired[chosen].name, error)
            return int(answer["seq"]), text, signature
        if answer.get("stale"):
            text, signature = sign()
            continue
        given = int(answer.get("round") or 0)
        round = given if given > round else round + 1
    raise failure or LedgerBusy("The ledger moved on while this was written; try again.")


def lead(node: Node, text: bytes, signature: str, round: int) -> Led:
    """Make the entry final as the proposer of `round` (or of the higher round this home
    knows), in a transaction of its own. Raises rules.Refused, NotFinal or LedgerBusy."""
    me, short = node.identity.node_id, 0
    with votes.leading(node), node.sessions() as session:
        for _ in range(STEPS):
            session.rollback()  # what is committed now, not an older snapshot
            found = journal.head(session)
            assert found is not None
            done = _already(session, text)
            if done is not None:
                return Led(round, done.seq, done.entry_hash)
            round = max(round, round_of(node, session, found))
            if finality.proposer(json.loads(found.notaries), round) != me:
                return Led(round)
            try:
                led = _step(node, session, found, round, text, signature)
            except (LedgerBusy, OperationalError):  # stored meanwhile (a pull): read again
                continue
            except NotFinal:
                short += 1
                if short >= 3:
                    raise
                time.sleep(0.5 * short)  # an answer lost (a notary killed mid-call): again
                continue
            if led is not None:
                return led
    raise LedgerBusy("The ledger moved on while this was written; try again.")


def _step(
    node: Node, session: Session, found: LedgerHead, round: int, text: bytes, signature: str
) -> Led | None:
    """One number: a Led (this entry final, or another round), or None to go on."""
    own = _position(found, text, signature)
    entry = rules.Entry.parse(text)
    try:
        rules.apply(journal.state_for(session, found, entry), entry, signature)
    except rules.Refused as refusal:
        if refusal.reason == "bad_time":  # another, signed after it, came first
            return Led(round, stale=True)
        raise
    peers = _notary_peers(node, session, json.loads(found.notaries))
    value: dict[str, Any] | None
    if round > 0:
        prepared = _prepare(node, session, found, peers, round)
        if isinstance(prepared, Led) or prepared is None:
            return prepared
        value = prepared
    else:
        mine = votes.held(node, found.seq + 1)
        value = mine["accepted"]["position"] if mine and mine["accepted"] else None
    return _propose(node, session, found, peers, round, value or own, own)


def _notary_peers(node: Node, session: Session, notaries: dict[str, str]) -> list[HamletPeer]:
    paired, me = _paired(session), node.identity.node_id
    return [paired[n] for n in finality.succession(notaries) if n != me and n in paired]


def _ask(node: Node, peer: HamletPeer, path: str, given: dict) -> Any:
    try:
        with client.to_peer(node, peer) as toward:
            return toward.call("POST", path, json=given)
    except Exception as error:  # down, paused or refusing: the next notary is asked
        log.info("%s by %s failed: %s", path.rsplit("/", 1)[1], peer.name, error)
        return None


def _prepare(
    node: Node, session: Session, found: LedgerHead, peers: list[HamletPeer], round: int
) -> dict[str, Any] | Led | None:
    """Phase one: a majority promises `round`; the position voted in the highest round among
    their answers (dict), {} if none, a Led if a higher round was promised, None to go on."""
    notaries, seq = json.loads(found.notaries), found.seq + 1
    try:
        reports = [votes.promise(node, seq, round)["accepted"]]
    except votes.Refused as refusal:
        return Led(refusal.promised)
    for peer in peers:
        if len(reports) >= finality.majority(len(notaries)):
            break
        answer = _ask(node, peer, PREPARE, {"seq": seq, "round": round})
        if not isinstance(answer, dict):
            continue
        if answer.get("refused") == "promised":
            return Led(int(answer.get("round") or round + 1))
        if answer.get("refused") == "ahead":
            _pull(session, node, peer)
            return None
        if answer.get("promised") == round:
            reports.append(answer.get("accepted"))
    if len(reports) < finality.majority(len(notaries)):
        raise _not_final(len(reports), len(notaries))
    return _highest(notaries, found, reports)


def _highest(notaries: dict[str, str], found: LedgerHead, reports: list) -> dict[str, Any]:
    """The position voted in the highest round, whose proposal its proposer signed."""
    best: tuple[int, dict[str, Any]] | None = None
    for report in reports:
        if not isinstance(report, dict) or not isinstance(report.get("position"), dict):
            continue
        at, position = int(report.get("round", 0)), report["position"]
        if position.get("seq") != found.seq + 1 or position.get("prev_hash") != found.entry_hash:
            continue
        message = crypto.proposal_message(position["seq"], at, str(position.get("entry_hash")))
        key = notaries[finality.proposer(notaries, at)]
        if at > 0 and not crypto.verify(key, message, str(report.get("proposal", ""))):
            log.warning("a vote reported at position %s is not its proposer's", found.seq + 1)
            continue
        if best is None or at > best[0]:
            best = (at, position)
    return best[1] if best else {}


def _not_final(signed: int, count: int) -> NotFinal:
    return NotFinal(
        "Only %(signed)s of the %(count)s notaries could sign this entry, and a majority"
        " must: it is not final yet. Look at the account's history before trying again (a"
        " notary that voted for it may still make it final).",
        signed=signed, count=count,
    )  # fmt: skip


def _propose(
    node: Node, session: Session, found: LedgerHead, peers: list[HamletPeer], round: int,
    value: dict[str, Any], own: dict[str, Any],
) -> Led | None:  # fmt: skip
    """Phase two: this notary votes `value`, a majority signs it in `round`, it is stored."""
    me, notaries = node.identity.node_id, json.loads(found.notaries)
    message = crypto.proposal_message(value["seq"], round, value["entry_hash"])
    proposal = crypto.b64(node.identity.sign(message))
    try:
        votes.accept(node, value, round, proposal, me)
    except votes.Refused as refusal:
        if not refusal.equivocation:
            return Led(refusal.promised)
        return None  # it proposed another in this round before a restart: that one, next step
    cosigned = _cosigned(node, session, found, peers, round, {**value, "proposal": proposal})
    if isinstance(cosigned, Led) or cosigned is None:
        return cosigned
    need = finality.majority(len(notaries))
    if len(cosigned) + 1 < need:
        raise _not_final(len(cosigned) + 1, len(notaries))
    if (found.seq + 1, found.entry_hash) != (value["seq"], value["prev_hash"]):
        return None  # this home stored positions meanwhile (`found` read again): a fresh step
    text = value["entry"].encode()
    entry = rules.Entry.parse(text)
    state = journal.state_for(session, found, entry)  # LedgerBusy if the head moved meanwhile
    rules.apply(state, entry, value["signature"])
    journal.seal(node, session, found, text, value["signature"], entry, state,
                 tuple(cosigned), round=round)  # fmt: skip
    journal._store(session, state)
    session.commit()
    if value["entry_hash"] != own["entry_hash"]:
        return None  # a position voted before, taken up: this entry at the next number
    return Led(round, value["seq"], value["entry_hash"])


def _cosigned(
    node: Node, session: Session, found: LedgerHead, peers: list[HamletPeer], round: int,
    given: dict[str, Any],
) -> list[LedgerSignature] | Led | None:  # fmt: skip
    notaries, seq, entry_hash = json.loads(found.notaries), given["seq"], given["entry_hash"]
    signed: list[LedgerSignature] = []
    for peer in peers:
        if len(signed) + 1 >= finality.majority(len(notaries)):
            break
        answer = _ask(node, peer, COSIGN, {**given, "round": round})
        if isinstance(answer, dict) and answer.get("refused") == "behind":
            before = replica.page_after(session, int(answer.get("head", 0)))["positions"]
            answer = _ask(node, peer, COSIGN, {**given, "round": round, "before": before})
        if not isinstance(answer, dict):
            continue
        said = answer.get("signature")
        if isinstance(said, str) and finality.signers(
            notaries, seq, entry_hash, [(peer.node_id, said, round)]
        ):
            signed.append(LedgerSignature(seq=seq, notary=peer.node_id, entry_hash=entry_hash,
                                          signature=said, round=round))  # fmt: skip
        elif answer.get("refused") == "promised":
            return Led(int(answer.get("round") or round + 1))
        elif answer.get("refused") == "ahead":
            _pull(session, node, peer)
            return None
    return signed


def _pull(session: Session, node: Node, peer: HamletPeer) -> None:
    """What a notary made final, pulled and verified, in a fresh transaction; again if this
    home's server (nudged) stored the same positions meanwhile."""
    for attempt in range(5):
        session.rollback()
        try:
            pull.pull_into(node, session, peer)
            session.commit()
            return
        except (LedgerBusy, OperationalError):
            time.sleep(0.1 * (attempt + 1))
    session.rollback()

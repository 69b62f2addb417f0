"""`hameau ledger verify`: the whole ledger recomputed from its first entry.

For every position, in order: the number follows the previous one (two at one number is a
fork), the previous hash is the previous position's (a broken link otherwise), the position's
hash covers its content (a tampered entry otherwise), every notary signature kept verifies and
is by a notary in effect (a forged one otherwise), a majority of them signed it (finality.py), and the rules (rules.py) accept the entry: its author's signature, its nonce (a
replay or a reordering otherwise), balances within limits (a double spend otherwise), escrow
conditions. Then the head and the stored balances and contracts must be what was recomputed,
and the balances must sum to zero. The first problem is reported with its position and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.ledger import crypto, finality, rules
from hameau.ledger.journal import head, to_account, to_escrow
from hameau.ledger.models import LedgerAccount, LedgerEntry, LedgerEscrow, LedgerSignature

# How verify names what the rules refused.
WHAT = {
    "insufficient": "double spend",
    "replayed_nonce": "replayed entry",
    "reordered_nonce": "reordered entry",
    "bad_signature": "tampered entry",
    "malformed": "tampered entry",
}


@dataclass(frozen=True)
class Problem:
    seq: int
    reason: str  # fork, gap, link, hash, notary, head, stored, sum, or a rules reason
    message: str


@dataclass
class Report:
    positions: int = 0
    problem: Problem | None = None
    state: rules.State = field(default_factory=rules.State)

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Broken(Exception):
    def __init__(self, seq: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(seq, reason, f"position {seq}: {message}")


def _signatures(session: Session) -> Iterator[LedgerSignature]:
    query = select(LedgerSignature).order_by(LedgerSignature.seq, LedgerSignature.notary)
    yield from session.scalars(query.execution_options(yield_per=2000))


def _notarised(row: LedgerEntry, notaries: dict[str, str], signed: list[LedgerSignature]) -> None:
    """Every signature kept is a notary's and verifies (finality.py, rule 4), and a majority
    of the notaries in effect signed in one round (rule 3)."""
    pairs = [(s.notary, s.signature, s.round or 0) for s in signed]
    bad = finality.forged(notaries, row.seq, row.entry_hash, pairs)
    if bad is None:
        bad = next((s.notary for s in signed if s.entry_hash != row.entry_hash), None)
    if bad is not None:
        raise _Broken(
            row.seq, "forged", f"a notary signature by {bad[:40]} is forged or not a notary's"
        )
    if not finality.is_final(notaries, row.seq, row.entry_hash, pairs):
        raise _Broken(row.seq, "notary", "not signed by a majority of the notaries in one round")


def _position(
    state: rules.State,
    row: LedgerEntry,
    prev: str,
    signed: list[LedgerSignature],
    notarised: bool = True,
) -> None:
    text = row.entry.encode()
    if row.prev_hash != prev:
        raise _Broken(
            row.seq, "link", f"broken link: its previous hash is not position {row.seq - 1}'s"
        )
    if crypto.position_hash(row.seq, row.prev_hash, text, row.signature) != row.entry_hash:
        raise _Broken(row.seq, "hash", "tampered entry: its hash does not match its content")
    try:
        entry = rules.Entry.parse(text)
    except rules.Refused as refusal:
        raise _Broken(row.seq, "hash", f"tampered entry: {refusal.detail}") from None
    if (entry.kind, entry.author, entry.nonce, entry.ts) != (
        row.kind,
        row.author,
        row.nonce,
        row.ts,
    ):
        raise _Broken(
            row.seq, "hash", "tampered entry: its columns disagree with its signed content"
        )
    notaries = (
        state.notaries or (entry.body.get("notaries") if entry.kind == "open" else None) or {}
    )
    if notarised:
        _notarised(row, notaries, signed)
    try:
        rules.apply(state, entry, row.signature)
    except rules.Refused as refusal:
        what = WHAT.get(refusal.reason, f"entry refused ({refusal.reason})")
        raise _Broken(row.seq, refusal.reason, f"{what}: {refusal.detail}") from None


def check_position(
    state: rules.State,
    row: LedgerEntry,
    prev: str,
    signed: list[LedgerSignature],
    notarised: bool = True,
) -> Problem | None:
    """One position checked as `verify` checks it (a replica's pull uses it; a notary asked to
    co-sign checks all but the signatures, `notarised=False`); `state` moves on when it passes."""
    try:
        _position(state, row, prev, signed, notarised)
    except _Broken as broken:
        return broken.problem
    return None


def _chain(session: Session, report: Report) -> str:
    signatures = _signatures(session)
    pending = next(signatures, None)
    prev, last = crypto.GENESIS, 0
    query = select(LedgerEntry).order_by(LedgerEntry.seq, LedgerEntry.id)
    for row in session.scalars(query.execution_options(yield_per=2000)):
        if row.seq == last:
            raise _Broken(row.seq, "fork", "a fork: two entries at this position")
        if row.seq != last + 1:
            raise _Broken(row.seq, "gap", f"position {last + 1} is missing")
        signed = []
        while pending is not None and pending.seq <= row.seq:
            if pending.seq == row.seq:
                signed.append(pending)
            pending = next(signatures, None)
        _position(report.state, row, prev, signed)
        prev, last = row.entry_hash, row.seq
        report.positions = last
    return prev


def _stored(session: Session, state: rules.State, last: int) -> None:
    """The derived tables must be exactly what the journal gives."""
    stored = {row.id: to_account(row) for row in session.scalars(select(LedgerAccount))}
    for name in set(stored) | set(state.accounts):
        if stored.get(name) != state.accounts.get(name):
            raise _Broken(
                last,
                "stored",
                f"account {name}'s stored balance, limit or nonce is not the ledger's",
            )
    escrows = {row.id: to_escrow(row) for row in session.scalars(select(LedgerEscrow))}
    for name in set(escrows) | set(state.escrows):
        if escrows.get(name) != state.escrows.get(name):
            raise _Broken(last, "stored", f"contract {name}'s stored state is not the ledger's")


def verify(session: Session) -> Report:
    """Recompute everything; the report's problem is the first place where it breaks."""
    report = Report()
    try:
        last_hash = _chain(session, report)
        found = head(session)
        at = (found.seq, found.entry_hash) if found else (0, crypto.GENESIS)
        if at != (report.positions, last_hash):
            raise _Broken(
                report.positions, "head", "the head does not point at the chain's last position"
            )
        if found is not None and json.loads(found.notaries) != report.state.notaries:
            raise _Broken(report.positions, "head", "the head's notaries are not the ledger's")
        _stored(session, report.state, report.positions)
        if rules.total(report.state) != 0:
            raise _Broken(
                report.positions, "sum", f"the balances sum to {rules.total(report.state)}, not 0"
            )
    except _Broken as broken:
        report.problem = broken.problem
    return report

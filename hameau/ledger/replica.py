"""Replicas: positions served to paired homes, and positions pulled from one, verified first.

One ledger per hamlet. The node that opened it (its first entry, the cooperative's `open`,
names it notary) serves it; every other home adopts it by pulling from position 1. A pulled
position is stored only once it passed the checks of `hameau ledger verify` (verify.py's
`check_position`): its number follows this replica's head, its previous hash is the head's,
its hash covers its content, a majority of the notaries in effect signed it, and the rules
accept the entry. A position already held comes again (a replayed or duplicated page): the
same hash changes nothing, another hash is a fork and is refused. A home whose own ledger has
entries that are not the hamlet's is refused at position 1 with a sentence that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.ledger import crypto, journal, rules
from hameau.ledger.errors import LedgerBusy, ReplicaRefused
from hameau.ledger.models import LedgerEntry, LedgerSignature
from hameau.ledger.verify import Problem, check_position

PAGE = 500  # positions per page: a few hundred KiB of JSON
AGAIN = 5  # reads of the head, when other writers of this home store positions meanwhile


def page_after(session: Session, after: int, limit: int = PAGE) -> dict[str, Any]:
    """Positions after `after`, in order, each with its notaries' signatures, and the head."""
    rows = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.seq > after)
        .order_by(LedgerEntry.seq, LedgerEntry.id)
        .limit(limit)
    ).all()
    signed: dict[int, list[dict[str, Any]]] = {}
    if rows:
        query = select(LedgerSignature).where(
            LedgerSignature.seq > after, LedgerSignature.seq <= rows[-1].seq
        )
        for s in session.scalars(query):
            signed.setdefault(s.seq, []).append(
                {
                    "notary": s.notary,
                    "entry_hash": s.entry_hash,
                    "signature": s.signature,
                    "round": s.round or 0,
                }
            )
    found = journal.head(session)
    positions = [
        {
            "seq": row.seq,
            "entry": row.entry,
            "signature": row.signature,
            "prev_hash": row.prev_hash,
            "entry_hash": row.entry_hash,
            "signatures": signed.get(row.seq, []),
        }
        for row in rows
    ]
    return {"head": found.seq if found else 0, "positions": positions}


@dataclass
class Pulled:
    stored: int = 0  # positions newly stored
    held: int = 0  # positions already held (duplicates), unchanged
    head: int = 0


def _row(given: dict[str, Any]) -> tuple[LedgerEntry, list[LedgerSignature]]:
    try:
        text = str(given["entry"])
        entry = rules.Entry.parse(text.encode())
        row = LedgerEntry(
            seq=int(given["seq"]), entry=text, signature=str(given["signature"]),
            prev_hash=str(given["prev_hash"]), entry_hash=str(given["entry_hash"]),
            kind=entry.kind, author=entry.author, nonce=entry.nonce, ts=entry.ts,
        )  # fmt: skip
        signed = [
            LedgerSignature(
                seq=row.seq,
                notary=str(s["notary"]),
                entry_hash=str(s["entry_hash"]),
                signature=str(s["signature"]),
                round=int(s.get("round") or 0),
            )
            for s in given.get("signatures", [])
        ]
    except (KeyError, TypeError, ValueError, rules.Refused):
        raise ReplicaRefused(
            "A position sent by the peer is not a ledger position; nothing of it was stored."
        ) from None
    return row, signed


def _refuse(problem: Problem) -> ReplicaRefused:
    if problem.seq == 1 and problem.reason == "fork":
        return ReplicaRefused(
            "This home server has a ledger of its own that is not the hamlet's, and two"
            " ledgers cannot be merged: it keeps its own and cannot adopt the hamlet's."
        )
    return ReplicaRefused(
        "The peer sent a position that does not verify (%(problem)s); nothing of it was stored.",
        problem=problem.message,
    )


def _held_already(session: Session, row: LedgerEntry) -> bool:
    """A position at or below the head: the same hash is a duplicate, another is a fork."""
    mine = session.scalars(select(LedgerEntry).where(LedgerEntry.seq == row.seq)).first()
    if mine is None:
        return False
    if mine.entry_hash != row.entry_hash:
        raise _refuse(Problem(row.seq, "fork", f"position {row.seq}: a fork: it differs here"))
    return True


def accept(session: Session, given: dict[str, Any]) -> bool:
    """Verify one position against this replica's head and store it; False if already held.
    ReplicaRefused (nothing stored) for anything that does not verify. Another writer of this
    home (a pull beside this one) may store positions meanwhile: read again, then."""
    row, signed = _row(given)
    for _ in range(AGAIN):
        found = journal.head(session)
        at = found.seq if found else 0
        if row.seq <= at:
            _held_already(session, row)
            return False
        if row.seq != at + 1:
            raise _refuse(
                Problem(row.seq, "gap", f"position {row.seq}: position {at + 1} is missing")
            )
        entry = rules.Entry.parse(row.entry.encode())
        try:
            state = journal.state_for(session, found, entry)
        except LedgerBusy:  # stored meanwhile: what this replica holds now
            continue
        prev = found.entry_hash if found else crypto.GENESIS
        # Junk beside good signatures is dropped; too few good ones left and it is refused.
        kept = _valid(row, state.notaries or _opening_notaries(entry), signed)
        problem = check_position(state, row, prev, kept)
        if problem is not None:
            raise _refuse(problem)
        journal.store_position(session, found, row, kept, state, entry)
        return True
    raise LedgerBusy("The ledger moved on while this was written; try again.")


def _opening_notaries(entry: rules.Entry) -> dict[str, str]:
    named = entry.body.get("notaries") if entry.kind == "open" else None
    return named if isinstance(named, dict) else {}


def _valid(
    row: LedgerEntry, notaries: dict[str, str], signed: list[LedgerSignature]
) -> list[LedgerSignature]:
    """Only the signatures of notaries in effect that verify are kept (a peer may add junk)."""
    kept = {}
    for s in signed:
        key = notaries.get(s.notary)
        message = crypto.position_message(row.seq, row.entry_hash, s.round or 0)
        if key is not None and s.notary not in kept and crypto.verify(key, message, s.signature):
            s.entry_hash = row.entry_hash
            kept[s.notary] = s
    return list(kept.values())


def accept_page(session: Session, page: dict[str, Any]) -> Pulled:
    """Every position of a page, in order; the good ones before a refused one stay stored
    (the caller commits them), the refused one and what follows are not."""
    pulled = Pulled()
    positions = page.get("positions")
    if not isinstance(positions, list):
        raise ReplicaRefused("The peer's answer is not a page of the ledger.")
    for given in positions:
        if not isinstance(given, dict):
            raise ReplicaRefused("The peer's answer is not a page of the ledger.")
        if accept(session, given):
            pulled.stored += 1
        else:
            pulled.held += 1
    found = journal.head(session)
    pulled.head = found.seq if found else 0
    return pulled

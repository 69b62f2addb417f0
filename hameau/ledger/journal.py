"""The journal: signing an entry, checking it with the rules, and sealing it at the next position.

An append reads only what the entry touches (its accounts, its escrow, the head), applies the
rules (rules.py) to that, then seals: the next position's number, the previous hash, the
position's hash and this node's signature as notary, and moves the head with a conditional
update, so two appends at once never take the same position (the second is refused and
may be tried again). `seal` alone, without the rules, is what a dishonest notary could do:
the tests use it to write a double spend or a replay that `verify` must find.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hameau.ledger import crypto, keys, rules
from hameau.ledger.errors import LedgerBusy, NoKey, NotNotary
from hameau.ledger.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerEscrow,
    LedgerHead,
    LedgerKey,
    LedgerSignature,
)
from hameau.node.datadir import Node


@dataclass(frozen=True)
class Appended:
    position: LedgerEntry
    escrow: rules.Escrow | None


def head(session: Session) -> LedgerHead | None:
    return session.get(LedgerHead, 1, populate_existing=True)  # as committed, not as first read


def node_account_id(node: Node) -> str:
    return crypto.account_id("node", node.identity.public_key_b64)


def signer(node: Node, session: Session, account: str) -> Callable[[bytes], bytes]:
    """How `account` signs: with the node's identity key for the node's account, else the key
    this node keeps for it."""
    if account == node_account_id(node):
        return node.identity.sign
    known = session.info.setdefault("ledger_keys", {})  # unsealed once per session
    if account not in known:
        kept = session.get(LedgerKey, account)
        if kept is None:
            raise NoKey("This home server holds no key for account %(account)s.", account=account)
        known[account] = keys.private(node, kept).sign
    return known[account]  # type: ignore[no-any-return]


def _held(session: Session, *rows: object) -> None:
    """Keep the rows an append reads in the session's identity map (it holds them weakly),
    so that many appends in one transaction refresh the same objects."""
    session.info.setdefault("ledger_rows", set()).update(row for row in rows if row is not None)


def to_account(row: LedgerAccount) -> rules.Account:
    return rules.Account(
        row.id, row.kind, row.label, row.public_key, row.limit, row.balance, row.nonce
    )


def to_escrow(row: LedgerEscrow) -> rules.Escrow:
    conditions = json.loads(row.conditions)
    paid = tuple((str(a), int(c)) for a, c in json.loads(row.paid))
    return rules.Escrow(
        row.id, row.payer, row.amount, tuple(conditions["payees"]), conditions["signer"],
        conditions["deadline"], row.state, paid, row.receipt,
    )  # fmt: skip


def _state(session: Session, found: LedgerHead | None, entry: rules.Entry) -> rules.State:
    state = rules.State()
    if found is not None:
        state.last_ts, state.coop = found.last_ts, found.coop or None
        state.notaries = json.loads(found.notaries)
    names, escrow_ids = rules.referenced(entry)
    for escrow_id in escrow_ids:
        stored = session.get(LedgerEscrow, escrow_id, populate_existing=True)
        if stored is not None:
            escrow = state.escrows[stored.id] = to_escrow(stored)
            names.update((escrow.payer, escrow.signer, *escrow.payees))
    if state.coop:
        names.add(state.coop)
    for name in names:
        # Read again, not taken from the identity map: a row the caller loaded before the
        # head may be older than it, and a balance computed from it would undo another
        # writer's payment that the head's check cannot see.
        row = session.get(LedgerAccount, name, populate_existing=True)
        if row is not None:
            state.accounts[row.id] = to_account(row)
            _held(session, row)
    _unmoved(session, found)
    return state


def _unmoved(session: Session, found: LedgerHead | None) -> None:
    """The head is still `found` once the rows are read, else LedgerBusy. Outside a write
    transaction each read sees what is committed at that moment (SQLite's reads, PostgreSQL's
    READ COMMITTED): a position stored between the head's read and the accounts' would be
    taken for what came before it (its own entry then looks replayed; a credit it brings,
    spendable). Every position moves the head in the transaction that changes the rows, so
    a head unmoved since means rows at it."""
    query = select(LedgerHead.seq, LedgerHead.entry_hash).where(LedgerHead.id == 1)
    now = session.execute(query.execution_options(autoflush=False)).first()
    if (tuple(now) if now else None) != ((found.seq, found.entry_hash) if found else None):
        raise LedgerBusy("The ledger moved on while this was written; try again.")


def _store(session: Session, state: rules.State) -> None:
    for account in state.accounts.values():
        row = session.get(LedgerAccount, account.id)
        if row is None:
            row = LedgerAccount(id=account.id, kind=account.kind, public_key=account.public_key)
            session.add(row)
        row.label, row.limit, row.balance, row.nonce = (
            account.label, account.limit, account.balance, account.nonce
        )  # fmt: skip
    for escrow in state.escrows.values():
        conditions = {
            "payees": list(escrow.payees),
            "signer": escrow.signer,
            "deadline": escrow.deadline,
        }
        stored = session.get(LedgerEscrow, escrow.id)
        if stored is None:
            stored = LedgerEscrow(id=escrow.id, payer=escrow.payer, amount=escrow.amount)
            session.add(stored)
        stored.conditions = crypto.canonical(conditions).decode()
        stored.state, stored.receipt = escrow.state, escrow.receipt
        stored.paid = json.dumps([list(p) for p in escrow.paid])


def signed_entry(
    node: Node, session: Session, author: str, kind: str, body: dict, ts: int | None = None
) -> tuple[bytes, str]:
    """The entry by `author` (a key this node holds) at its next nonce, and its signature."""
    found = head(session)
    account = session.get(LedgerAccount, author, populate_existing=True)
    _held(session, found)
    nonce = (account.nonce if account is not None else 0) + 1
    when = max(int(time.time()) if ts is None else ts, found.last_ts if found else 0)
    text = rules.Entry(kind, author, nonce, when, body).canonical()
    return text, crypto.b64(signer(node, session, author)(crypto.ENTRY_PREFIX + text))


def append(
    node: Node, session: Session, author: str, kind: str, body: dict, ts: int | None = None
) -> Appended:
    """Sign an entry by `author` (a key this node holds), check it, seal it. Raises
    rules.Refused (nothing written) when a rule refuses it."""
    text, signature = signed_entry(node, session, author, kind, body, ts)
    return sequence(node, session, text, signature)


def sequence(node: Node, session: Session, text: bytes, signature: str) -> Appended:
    """The notary's side of a signed entry: the rules, then sealed. Raises rules.Refused
    (nothing written). With several notaries an entry must be co-signed first (notarise.py,
    through service.append): sealed here alone it would not be final, so it is refused."""
    entry = rules.Entry.parse(text)
    found = head(session)
    if found is not None and len(json.loads(found.notaries)) > 1:
        raise LedgerBusy(
            "The ledger has several notaries: this entry must go through service.append."
        )
    _held(session, found)
    state = _state(session, found, entry)
    escrow = rules.apply(state, entry, signature)
    position = seal(node, session, found, entry.canonical(), signature, entry, state)
    _store(session, state)
    session.flush()
    return Appended(position, escrow)


def seal(
    node: Node,
    session: Session,
    found: LedgerHead | None,
    text: bytes,
    signature: str,
    entry: rules.Entry,
    state: rules.State,
    cosigned: tuple[LedgerSignature, ...] = (),
    sign: bool = True,
    round: int = 0,
) -> LedgerEntry:
    """The notary's part: the next position, linked and signed (with the other notaries'
    signatures `cosigned`, when there are several), and the head moved on."""
    notary = node.identity.node_id
    if found is not None and notary not in json.loads(found.notaries):
        raise NotNotary("This home server is not one of the ledger's notaries.")
    seq = (found.seq if found else 0) + 1
    prev = found.entry_hash if found else crypto.GENESIS
    entry_hash = crypto.position_hash(seq, prev, text, signature)
    position = LedgerEntry(
        seq=seq, entry=text.decode(), signature=signature, prev_hash=prev, entry_hash=entry_hash,
        kind=entry.kind, author=entry.author, nonce=entry.nonce, ts=entry.ts,
    )  # fmt: skip
    notarised = crypto.b64(node.identity.sign(crypto.position_message(seq, entry_hash, round)))
    moved = {
        "seq": seq, "entry_hash": entry_hash, "last_ts": max(state.last_ts, entry.ts),
        "notaries": crypto.canonical(state.notaries).decode(), "coop": state.coop or "",
    }  # fmt: skip
    try:
        _move_head(session, found, moved)  # first: whoever moves it owns the position
        session.add(position)
        if sign:  # False: this notary voted another position here; the others' majority seals
            session.add(
                LedgerSignature(
                    seq=seq, notary=notary, entry_hash=entry_hash, signature=notarised, round=round
                )
            )
        session.add_all(s for s in cosigned if s.notary != notary or not sign)
        session.flush()
    except IntegrityError:  # another writer sealed this position in between
        raise LedgerBusy("The ledger moved on while this was written; try again.") from None
    return position


def escrow_of(session: Session, kind: str, text: bytes, body: dict) -> rules.Escrow | None:
    """The contract an entry opened or settled, as stored (None for other entries)."""
    if not kind.startswith("escrow_"):
        return None
    name = crypto.content_id(text) if kind == "escrow_open" else str(body.get("escrow"))
    row = session.get(LedgerEscrow, name)
    return to_escrow(row) if row is not None else None


state_for = _state  # what a replica's pull reads before checking a position


def store_position(
    session: Session,
    found: LedgerHead | None,
    position: LedgerEntry,
    signed: list[LedgerSignature],
    state: rules.State,
    entry: rules.Entry,
) -> None:
    """A verified position pulled from a peer, stored as the notary stored it."""
    moved = {
        "seq": position.seq, "entry_hash": position.entry_hash,
        "last_ts": max(state.last_ts, entry.ts),
        "notaries": crypto.canonical(state.notaries).decode(), "coop": state.coop or "",
    }  # fmt: skip
    try:
        _move_head(session, found, moved)
        session.add(position)
        session.add_all(signed)
        _store(session, state)
        session.flush()
    except IntegrityError:  # a pull or an append stored this position in between
        raise LedgerBusy("The ledger moved on while this was written; try again.") from None


def _move_head(session: Session, found: LedgerHead | None, moved: dict) -> None:
    if found is None:
        session.add(LedgerHead(id=1, **moved))
        session.flush()
        return
    done = session.execute(
        update(LedgerHead)
        .where(LedgerHead.id == 1, LedgerHead.seq == found.seq)
        .values(**moved)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise LedgerBusy("The ledger moved on while this was written; try again.")
    for name, value in moved.items():  # what the row now holds, without reading it again
        set_committed_value(found, name, value)

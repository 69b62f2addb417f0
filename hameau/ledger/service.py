"""What people do with the ledger: accounts made on first use, transfers, the cooperative's
issuance, redemption and limits, balances and history. Plain functions taking a session."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.ledger import crypto, journal, keys, rules
from hameau.ledger.errors import BadAmount, NoAccount, refused
from hameau.ledger.models import LedgerAccount, LedgerEntry, LedgerEscrow, LedgerKey
from hameau.node.datadir import Node

EUROS = re.compile(r"\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*(?:€|EUR|eur)?\s*")


def parse_euros(text: str) -> int:
    """ "12,50", "12.50", "12" or "12,5 €" in cents; refuses anything else, zero included."""
    match = EUROS.fullmatch(text or "")
    if match is None or int(match.group(1) + (match.group(2) or "").ljust(2, "0")) == 0:
        raise BadAmount('Give the amount in euros, more than zero, like "12,50".')
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def euros(cents: int | None) -> str:
    """Cents as euros, French style: "−12,50 €"."""
    if cents is None:
        return "∞"
    sign = "−" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole:,}".replace(",", "\u202f") + f",{rest:02d}\u00a0€"


def append(
    node: Node, session: Session, author: str, kind: str, body: dict, ts: int | None = None
) -> journal.Appended:
    """journal.append, with a refusal said as one sentence for a person; at a home that is
    not a notary, or when the ledger has several notaries, the entry goes to the sequencing
    notary (remote.py, notarise.py)."""
    from hameau.ledger import notarise, remote

    found = journal.head(session)
    if not remote.is_notary(node, found) or notarise.several(found):
        return remote.submit(node, session, author, kind, body, ts)
    try:
        done = journal.append(node, session, author, kind, body, ts)
    except rules.Refused as refusal:
        raise refused(refusal.reason) from refusal
    return done


def ensure_ledger(node: Node, session: Session, ts: int | None = None) -> str:
    """The cooperative's account, opening the ledger (its first entry names this node the
    notary) the first time; returns its id."""
    found = journal.head(session)
    if found is None:
        from hameau.ledger import remote

        if remote.adopt(node, session):  # the hamlet's ledger, if a paired home keeps it
            found = journal.head(session)
    if found is not None and found.coop:
        return found.coop
    kept = keys.named(session, "coop", "cooperative") or keys.make(
        node, session, "coop", "cooperative"
    )
    notaries = {node.identity.node_id: node.identity.public_key_b64}
    body = {"kind": "coop", "public_key": keys.public_of(keys.private(node, kept)),
            "label": "cooperative", "notaries": notaries}  # fmt: skip
    append(node, session, kept.account, "open", body, ts)
    return kept.account


def _open(
    node: Node, session: Session, account: str, kind: str, key: str, label: str, ts: int | None
) -> LedgerAccount:
    row = session.get(LedgerAccount, account)
    if row is None:
        ensure_ledger(node, session, ts)  # may adopt the hamlet's ledger: the account may be there
        row = session.get(LedgerAccount, account)
    if row is None:
        append(
            node, session, account, "open", {"kind": kind, "public_key": key, "label": label}, ts
        )
        row = session.get(LedgerAccount, account)
    assert row is not None
    return row


def node_account(node: Node, session: Session, ts: int | None = None) -> LedgerAccount:
    key = node.identity.public_key_b64
    return _open(node, session, journal.node_account_id(node), "node", key, node.name, ts)


def member_account(
    node: Node, session: Session, member: Member, ts: int | None = None
) -> LedgerAccount:
    """The member's account, with its key, made the first time they use the ledger."""
    kept = keys.of_member(session, member.id) or keys.make(
        node, session, "member", member.name, member.id
    )
    key = keys.public_of(keys.private(node, kept))
    return _open(node, session, kept.account, "member", key, member.name, ts)


def named_account(node: Node, session: Session, name: str, ts: int | None = None) -> LedgerAccount:
    """A member's account by name, or an account of that name whose key this node keeps."""
    member = session.scalar(select(Member).where(Member.name == name))
    if member is not None:
        return member_account(node, session, member, ts)
    kept = keys.named(session, "member", name) or keys.make(node, session, "member", name)
    key = keys.public_of(keys.private(node, kept))
    return _open(node, session, kept.account, "member", key, name, ts)


def find_account(session: Session, reference: str) -> LedgerAccount:
    """An account by its id or by the member name it is labelled with."""
    row = session.get(LedgerAccount, reference)
    if row is None:
        row = session.scalars(
            select(LedgerAccount).where(
                LedgerAccount.label == reference, LedgerAccount.kind != "coop"
            )
        ).first()
    if row is None:
        raise NoAccount("No account %(name)s on the ledger; check the name.", name=reference[:60])
    return row


def recipient(node: Node, session: Session, name: str) -> LedgerAccount:
    """A member of this home server to pay (their account opened if it is not yet)."""
    member = session.scalar(select(Member).where(Member.name == name.strip().lower()))
    if member is None:
        try:
            return find_account(session, name.strip())
        except NoAccount:
            raise NoAccount(
                "No member %(name)s on this home server; check the name.", name=name.strip()[:60]
            ) from None
    return member_account(node, session, member)


def transfer(
    node: Node,
    session: Session,
    payer: LedgerAccount,
    to: LedgerAccount,
    cents: int,
    memo: str = "",
) -> LedgerEntry:
    body: dict[str, Any] = {"to": to.id, "cents": cents}
    if memo.strip():
        body["memo"] = memo.strip()[:140]
    return append(node, session, payer.id, "transfer", body).position


def issue(node: Node, session: Session, to: LedgerAccount, cents: int) -> LedgerEntry:
    coop = ensure_ledger(node, session)
    return append(node, session, coop, "issue", {"to": to.id, "cents": cents}).position


def redeem(node: Node, session: Session, source: LedgerAccount, cents: int) -> LedgerEntry:
    coop = ensure_ledger(node, session)
    return append(node, session, coop, "redeem", {"from": source.id, "cents": cents}).position


def set_limit(node: Node, session: Session, account: LedgerAccount, cents: int) -> LedgerEntry:
    coop = ensure_ledger(node, session)
    return append(node, session, coop, "limit", {"account": account.id, "limit": cents}).position


@dataclass(frozen=True)
class Line:
    """One entry of an account's history, as the account sees it."""

    seq: int
    ts: int
    kind: str
    cents: int  # + credited, − debited, 0 for what moves nothing of its own
    other: str  # the other account's label, or the contract's id
    memo: str
    final: bool = True  # False: a position this notary signed that a majority has not yet


def _effect(account: str, entry: dict[str, Any], labels: dict[str, str]) -> tuple[int, str]:
    body, kind, author = entry["body"], entry["kind"], entry["author"]
    if kind in ("transfer", "issue"):
        cents = body["cents"] if body["to"] == account else -body["cents"]
        return cents, labels.get(body["to"] if author == account else author, "")
    if kind == "redeem":
        return (-body["cents"] if body["from"] == account else body["cents"]), labels.get(
            author, ""
        )
    if kind == "escrow_open":
        return (-body["amount"] if author == account else 0), crypto.content_id(
            crypto.canonical(entry)
        )[:8]
    if kind == "limit":
        return 0, euros(body["limit"])
    return 0, str(body.get("escrow", ""))[:8]


def history(session: Session, account: LedgerAccount, limit: int = 100) -> list[Line]:
    """The entries that name the account, newest first (escrow settlements: what it was paid)."""
    like = f'%"{account.id}"%'
    rows = session.scalars(
        select(LedgerEntry)
        .where(or_(LedgerEntry.author == account.id, LedgerEntry.entry.like(like)))
        .order_by(LedgerEntry.seq.desc())
        .limit(limit)
    ).all()
    labels = dict(session.execute(select(LedgerAccount.id, LedgerAccount.label)).all())
    paid = _settlements(session, account.id)
    lines = []
    for row in rows:
        entry = json.loads(row.entry)
        cents, other = _effect(account.id, entry, labels)
        if row.kind in ("escrow_release", "escrow_refund"):
            cents = paid.get(entry["body"]["escrow"], 0)
        lines.append(Line(row.seq, row.ts, row.kind, cents, other, entry["body"].get("memo", "")))
    return lines


def pending(node: Node, session: Session, account: LedgerAccount) -> list[Line]:
    """Positions naming the account that this notary signed but that are not final yet
    (finality.py): shown as pending, newest first; they bind nobody until final."""
    from hameau.ledger import votes

    found = journal.head(session)
    labels = dict(session.execute(select(LedgerAccount.id, LedgerAccount.label)).all())
    lines = []
    for vote in votes.pending(node, found.seq if found else 0):
        if f'"{account.id}"' not in vote["entry"]:
            continue
        entry = json.loads(vote["entry"])
        cents, other = _effect(account.id, entry, labels)
        memo = str(entry["body"].get("memo", ""))
        lines.append(Line(vote["seq"], entry["ts"], entry["kind"], cents, other, memo, False))
    return lines[::-1]


def _settlements(session: Session, account: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for escrow in session.scalars(select(LedgerEscrow).where(LedgerEscrow.state != "open")):
        for name, cents in json.loads(escrow.paid):
            if name == account:
                found[escrow.id] = found.get(escrow.id, 0) + cents
    return found


def open_contracts(session: Session, account: LedgerAccount) -> list[rules.Escrow]:
    """Open escrows the account pays, is paid by, or signs for."""
    like = f'%"{account.id}"%'
    rows = session.scalars(
        select(LedgerEscrow).where(
            LedgerEscrow.state == "open",
            or_(LedgerEscrow.payer == account.id, LedgerEscrow.conditions.like(like)),
        )
    ).all()
    return [journal.to_escrow(row) for row in rows]


def accounts(session: Session) -> list[LedgerAccount]:
    return list(
        session.scalars(select(LedgerAccount).order_by(LedgerAccount.kind, LedgerAccount.label))
    )


def notaries(session: Session) -> dict[str, str]:
    """The notaries in effect: node id -> public key."""
    found = journal.head(session)
    return json.loads(found.notaries) if found is not None else {}


def notary_candidates(node: Node, session: Session) -> list[tuple[str, str, str]]:
    """(node id, name, public key) of this home and its paired homes: who may be a notary."""
    from hameau.hamlet import service as hamlet

    found = [(node.identity.node_id, node.name, node.identity.public_key_b64)]
    for peer in hamlet.peers(session):
        if peer.revoked_at is None:
            found.append((peer.node_id, peer.name, peer.public_key))
    return found


def set_notaries(node: Node, session: Session, names: list[str]) -> LedgerEntry:
    """The cooperative names the notaries (this home or paired homes, by name or node id)."""
    known = {}
    for node_id, name, key in notary_candidates(node, session):
        known[node_id] = known[name] = (node_id, key)
    chosen = {}
    for name in names:
        if name not in known:
            raise NoAccount(
                "No home called %(name)s is paired with this one; see `hameau hamlet list`.",
                name=name[:60],
            )
        chosen[known[name][0]] = known[name][1]
    if not chosen:
        raise BadAmount("Name at least one notary.")
    coop = ensure_ledger(node, session)
    return append(node, session, coop, "notaries", {"notaries": chosen}).position


def members_without_account(session: Session) -> list[Member]:
    """Members of this home server whose account is not opened yet (it is on first use)."""
    have = select(LedgerKey.member_id).where(LedgerKey.member_id.is_not(None))
    query = select(Member).where(Member.disabled_at.is_(None), Member.id.not_in(have))
    return list(session.scalars(query.order_by(Member.name)))

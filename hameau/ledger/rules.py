"""The ledger's rulebook: pure functions from (state, signed entry) to the next state.

The rules, checked for every entry, in this order (the first that fails refuses the entry):

1. The author is a known account (an `open` entry names a new one: its id is the hash of its
   kind and public key, so nobody opens an account for a key they do not hold).
2. The nonce is the author's previous one plus one: a lower or equal nonce is a replay, a
   higher one a reordered (or lost) message. Nothing is applied twice.
3. The author's Ed25519 signature over the canonical entry is valid.
4. The timestamp is not before the previous entry's (conditions read the ledger's time).
5. The kind's own rule. Balances are mutual credit in euro cents: every credit is someone's
   debit, so balances plus what escrows hold always sum to zero; no account but the
   cooperative's goes below minus its limit. Only the cooperative issues, redeems, sets
   limits and names notaries. An escrow is released by a receipt its conditions' signer
   signed, before its deadline, to its payees, for at most its amount; refunded from the
   deadline on; once settled, it is never settled again.

No I/O: the journal (journal.py) and the verifier (verify.py) apply the same rules, so a
node that appends and any member who recomputes the ledger agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hameau.ledger import crypto
from hameau.node import json_input

ACCOUNT_KINDS = ("member", "node", "coop")
KINDS = (
    "open",
    "transfer",
    "limit",
    "issue",
    "redeem",
    "escrow_open",
    "escrow_release",
    "escrow_refund",
    "notaries",
)
MAX_CENTS = 10**12  # ten billion euros: far above any household, far below int64


class Refused(Exception):
    """An entry the rules refuse; `reason` is a short code (EscrowError's for escrows)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Account:
    id: str
    kind: str
    label: str
    public_key: str
    limit: int | None  # None: no limit (the cooperative's account)
    balance: int = 0
    nonce: int = 0


@dataclass
class Escrow:
    id: str
    payer: str
    amount: int
    payees: tuple[str, ...]
    signer: str
    deadline: int
    state: str = "open"
    paid: tuple[tuple[str, int], ...] = ()
    receipt: str = ""  # the releasing receipt's signature


@dataclass
class State:
    accounts: dict[str, Account] = field(default_factory=dict)
    escrows: dict[str, Escrow] = field(default_factory=dict)
    last_ts: int = 0
    notaries: dict[str, str] = field(default_factory=dict)  # node id -> public key
    coop: str | None = None


@dataclass(frozen=True)
class Entry:
    kind: str
    author: str
    nonce: int
    ts: int
    body: dict[str, Any]

    def canonical(self) -> bytes:
        return crypto.canonical(
            {"v": 1, "kind": self.kind, "author": self.author, "nonce": self.nonce,
             "ts": self.ts, "body": self.body}
        )  # fmt: skip

    @classmethod
    def parse(cls, text: bytes | str) -> Entry:
        try:
            data = json_input.loads(text)
            entry = cls(data["kind"], data["author"], data["nonce"], data["ts"], data["body"])
        except (ValueError, KeyError, TypeError) as error:
            raise Refused("malformed", f"not an entry ({str(error)[:80]})") from None
        if entry.canonical() != (text.encode() if isinstance(text, str) else text):
            raise Refused("malformed", "not in canonical form")
        return entry


def _cents(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CENTS:
        raise Refused("malformed", f"{name} must be a positive number of cents")
    return value


def _account(state: State, account: Any) -> Account:
    found = state.accounts.get(account) if isinstance(account, str) else None
    if found is None:
        raise Refused("unknown_account", f"no account {str(account)[:40]}")
    return found


def _debit(account: Account, cents: int) -> None:
    if account.limit is not None and account.balance - cents < -account.limit:
        raise Refused(
            "insufficient",
            f"{account.id} would go to {account.balance - cents} cents, below its limit of"
            f" -{account.limit}",
        )
    account.balance -= cents


def _coop(state: State, entry: Entry) -> None:
    if state.coop is None or entry.author != state.coop:
        raise Refused("not_cooperative", f"only the cooperative may write a {entry.kind} entry")


def apply(state: State, entry: Entry, signature: str) -> Escrow | None:
    """Check `entry` against `state` and apply it there; raise Refused and change nothing
    if any rule fails. Returns the escrow the entry opened or settled, if any."""
    if entry.kind not in KINDS or not isinstance(entry.body, dict):
        raise Refused("malformed", f"unknown kind {str(entry.kind)[:20]}")
    if not isinstance(entry.ts, int) or not isinstance(entry.nonce, int):
        raise Refused("malformed", "the time and the nonce must be whole numbers")
    author = _opening(state, entry) if entry.kind == "open" else _account(state, entry.author)
    if entry.nonce != author.nonce + 1:
        reason = "replayed_nonce" if entry.nonce <= author.nonce else "reordered_nonce"
        raise Refused(reason, f"{author.id} sent nonce {entry.nonce} after {author.nonce}")
    if not crypto.verify(author.public_key, crypto.ENTRY_PREFIX + entry.canonical(), signature):
        raise Refused("bad_signature", f"not signed by {author.id}'s key")
    if entry.ts < state.last_ts:
        raise Refused("bad_time", f"its time {entry.ts} is before the previous {state.last_ts}")
    escrow = KIND_RULES[entry.kind](state, entry, author)
    if entry.kind == "open":
        state.accounts[author.id] = author
    author.nonce = entry.nonce
    state.last_ts = entry.ts
    return escrow


def _opening(state: State, entry: Entry) -> Account:
    kind, key = entry.body.get("kind"), entry.body.get("public_key")
    if kind not in ACCOUNT_KINDS or not isinstance(key, str):
        raise Refused("malformed", "an account needs a kind and a public key")
    if entry.author != crypto.account_id(kind, key):
        raise Refused("malformed", "the account id is not its key's")
    if entry.author in state.accounts:
        raise Refused("replayed_nonce", f"{entry.author} is open already")
    label = str(entry.body.get("label", ""))[:120]
    return Account(entry.author, kind, label, key, None if kind == "coop" else 0)


def _open(state: State, entry: Entry, author: Account) -> None:
    if author.kind != "coop":
        if state.coop is None:
            raise Refused("not_cooperative", "the cooperative's account opens the ledger")
        return
    if state.coop is not None:
        raise Refused("not_cooperative", "the ledger has a cooperative already")
    notaries = entry.body.get("notaries")
    _notaries(state, notaries)
    state.coop = author.id


def _notaries(state: State, notaries: Any) -> None:
    if not isinstance(notaries, dict) or not notaries:
        raise Refused("malformed", "the notaries are a map of node ids to public keys")
    for name, key in notaries.items():
        if not isinstance(key, str) or crypto.node_id(key) != name:
            raise Refused("malformed", f"notary {str(name)[:40]} is not its key's node id")
    state.notaries = dict(notaries)


def _transfer(state: State, entry: Entry, author: Account) -> None:
    to = _account(state, entry.body.get("to"))
    cents = _cents(entry.body.get("cents"), "the amount")
    if to.id == author.id:
        raise Refused("malformed", "a transfer goes to another account")
    _debit(author, cents)
    to.balance += cents


def _limit(state: State, entry: Entry, author: Account) -> None:
    _coop(state, entry)
    account = _account(state, entry.body.get("account"))
    limit = entry.body.get("limit")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_CENTS:
        raise Refused("malformed", "a limit is a number of cents, 0 or more")
    if account.kind == "coop":
        raise Refused("malformed", "the cooperative's account has no limit")
    if account.balance < -limit:
        raise Refused("insufficient", f"{account.id} is at {account.balance}, below -{limit}")
    account.limit = limit


def _issue(state: State, entry: Entry, author: Account) -> None:
    _coop(state, entry)
    to = _account(state, entry.body.get("to"))
    cents = _cents(entry.body.get("cents"), "the amount")
    if to.id == author.id:
        raise Refused("malformed", "the cooperative issues to another account")
    author.balance -= cents
    to.balance += cents


def _redeem(state: State, entry: Entry, author: Account) -> None:
    _coop(state, entry)
    source = _account(state, entry.body.get("from"))
    cents = _cents(entry.body.get("cents"), "the amount")
    if source.id == author.id:
        raise Refused("malformed", "the cooperative redeems another account's credit")
    if source.balance < cents:  # only credit held is paid out in euros, never a debt
        raise Refused("insufficient", f"{source.id} holds {source.balance} cents")
    source.balance -= cents
    author.balance += cents


def _set_notaries(state: State, entry: Entry, author: Account) -> None:
    _coop(state, entry)
    _notaries(state, entry.body.get("notaries"))


def _escrow_open(state: State, entry: Entry, author: Account) -> Escrow:
    body = entry.body
    amount = _cents(body.get("amount"), "the amount")
    payees, deadline = body.get("payees"), body.get("deadline")
    if not isinstance(payees, list) or not payees or payees != sorted(set(payees)):
        raise Refused("malformed", "the payees are a sorted list of distinct accounts")
    for payee in [*payees, body.get("signer")]:
        _account(state, payee)
    if isinstance(deadline, bool) or not isinstance(deadline, int) or deadline <= entry.ts:
        raise Refused("malformed", "the deadline is a time after the entry's")
    escrow_id = crypto.content_id(entry.canonical())
    _debit(author, amount)
    escrow = Escrow(escrow_id, author.id, amount, tuple(payees), body["signer"], deadline)
    state.escrows[escrow_id] = escrow
    return escrow


def _settled(state: State, entry: Entry) -> Escrow:
    escrow = state.escrows.get(entry.body.get("escrow"))  # type: ignore[arg-type]
    if escrow is None:
        raise Refused("unknown_escrow", f"no escrow {str(entry.body.get('escrow'))[:40]}")
    if escrow.state != "open":
        raise Refused("already_settled", f"escrow {escrow.id} is {escrow.state}")
    return escrow


def _payouts(escrow: Escrow, payouts: Any) -> list[list[Any]]:
    if not isinstance(payouts, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in payouts
    ):
        raise Refused("malformed", "payouts are [payee, cents] pairs")
    names = [p[0] for p in payouts]
    if names != sorted(set(names)):
        raise Refused("malformed", "payouts are sorted by payee, one each")
    for payee, cents in payouts:
        if payee not in escrow.payees:
            raise Refused("not_payee", f"{payee[:40]} is not a payee of {escrow.id}")
        _cents(cents, "a payout")
    if sum(cents for _, cents in payouts) > escrow.amount:
        raise Refused("over_amount", f"the payouts exceed the {escrow.amount} cents held")
    return payouts


def _release(state: State, entry: Entry, author: Account) -> Escrow:
    escrow = _settled(state, entry)
    body = entry.body
    if entry.ts >= escrow.deadline:
        raise Refused("too_late", f"escrow {escrow.id}'s deadline has passed")
    if body.get("signer") != escrow.signer:
        raise Refused("wrong_signer", f"escrow {escrow.id} is released by {escrow.signer}")
    signer = _account(state, escrow.signer)
    message = crypto.receipt_message(escrow.id, body.get("payouts"))  # type: ignore[arg-type]
    if not isinstance(body.get("signature"), str) or not crypto.verify(
        signer.public_key, message, body["signature"]
    ):
        raise Refused("bad_signature", f"the receipt is not signed by {escrow.signer}")
    payouts = _payouts(escrow, body.get("payouts"))
    paid: dict[str, int] = {}
    for payee, cents in payouts:
        paid[payee] = paid.get(payee, 0) + cents
    rest = escrow.amount - sum(cents for _, cents in payouts)
    if rest:
        paid[escrow.payer] = paid.get(escrow.payer, 0) + rest
    for account, cents in paid.items():
        _account(state, account).balance += cents
    escrow.state, escrow.paid, escrow.receipt = (
        "released",
        tuple(sorted(paid.items())),
        body["signature"],
    )
    return escrow


def _refund(state: State, entry: Entry, author: Account) -> Escrow:
    escrow = _settled(state, entry)
    if entry.ts < escrow.deadline:
        raise Refused("too_early", f"escrow {escrow.id} is refunded from {escrow.deadline} on")
    _account(state, escrow.payer).balance += escrow.amount
    escrow.state, escrow.paid = "refunded", ((escrow.payer, escrow.amount),)
    return escrow


KIND_RULES: dict[str, Any] = {
    "open": _open,
    "transfer": _transfer,
    "limit": _limit,
    "issue": _issue,
    "redeem": _redeem,
    "escrow_open": _escrow_open,
    "escrow_release": _release,
    "escrow_refund": _refund,
    "notaries": _set_notaries,
}


def referenced(entry: Entry) -> tuple[set[str], set[str]]:
    """The accounts and escrows an entry reads: what the journal loads to check it."""
    body = entry.body if isinstance(entry.body, dict) else {}
    names = {entry.author}
    for key in ("to", "from", "account", "signer"):
        if isinstance(body.get(key), str):
            names.add(body[key])
    for listed in (body.get("payees") or [], [p[0] for p in body.get("payouts") or [] if p]):
        names.update(name for name in listed if isinstance(name, str))
    escrows = {body["escrow"]} if isinstance(body.get("escrow"), str) else set()
    return names, escrows


def total(state: State) -> int:
    """Balances plus what open escrows hold: always zero."""
    held = sum(e.amount for e in state.escrows.values() if e.state == "open")
    return sum(a.balance for a in state.accounts.values()) + held

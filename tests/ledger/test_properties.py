"""Properties of the ledger over random histories (Hypothesis), on a real node's database.

Random sequences of issuance, limits, transfers and escrows (opened, released with good and
bad receipts, refunded early and late, settled twice) keep every invariant after every step:
balances plus escrowed credit sum to zero, no account below its limit, a refused operation
changes nothing, and `verify` recomputes the same ledger. Then the ledger's own entries,
delivered again shuffled and duplicated, are all refused by the final state and change
nothing; applied to an empty ledger in that disorder, whatever is accepted keeps every
invariant and no entry is applied twice."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from hameau.errors import HameauError
from hameau.ledger import crypto, journal, rules, service
from hameau.ledger.embedded_escrow import EmbeddedEscrow
from hameau.ledger.escrow import Conditions, EscrowError, Receipt
from hameau.ledger.models import LedgerAccount, LedgerEntry, LedgerEscrow
from hameau.ledger.verify import verify
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import make_node

NAMES = ("ana", "ben", "cleo", "dan")
TABLES = (
    "ledger_entries",
    "ledger_signatures",
    "ledger_head",
    "ledger_accounts",
    "ledger_escrows",
    "ledger_keys",
)

step = st.one_of(
    st.tuples(st.just("issue"), st.sampled_from(NAMES), st.integers(1, 5000)),
    st.tuples(st.just("limit"), st.sampled_from(NAMES), st.integers(0, 3000)),
    st.tuples(st.just("transfer"), st.sampled_from(NAMES), st.sampled_from(NAMES), st.integers(1, 4000)),
    st.tuples(st.just("open"), st.sampled_from(NAMES), st.integers(1, 3000), st.sets(st.sampled_from(NAMES), min_size=1), st.sampled_from(NAMES), st.integers(1, 200)),
    st.tuples(st.just("release"), st.integers(0, 9), st.dictionaries(st.sampled_from(NAMES), st.integers(1, 2000), max_size=3), st.sampled_from(NAMES), st.booleans()),
    st.tuples(st.just("refund"), st.integers(0, 9)),
    st.tuples(st.just("wait"), st.integers(1, 150)),
)  # fmt: skip


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = make_node(Path(tmp_path_factory.mktemp("ledger")) / "node")
    yield node
    node.close()


def _snapshot(node: Node) -> tuple[int, dict[str, int], dict[str, str]]:
    with node.sessions() as session:
        seq = session.scalar(select(LedgerEntry.seq).order_by(LedgerEntry.seq.desc()).limit(1)) or 0
        balances = dict(session.execute(select(LedgerAccount.id, LedgerAccount.balance)).all())
        escrows = dict(session.execute(select(LedgerEscrow.id, LedgerEscrow.state)).all())
    return seq, balances, escrows


def _invariants(node: Node) -> None:
    with node.sessions() as session:
        accounts = session.scalars(select(LedgerAccount)).all()
        held = sum(
            e.amount
            for e in session.scalars(select(LedgerEscrow).where(LedgerEscrow.state == "open"))
        )
    assert sum(a.balance for a in accounts) + held == 0
    for account in accounts:
        assert account.limit is None or account.balance >= -account.limit, account.id


def _run(
    node: Node,
    escrow: EmbeddedEscrow,
    now: list[int],
    ids: dict[str, str],
    opened: list[str],
    one: tuple,
) -> None:
    kind = one[0]
    if kind == "wait":
        now[0] += one[1]
    elif kind == "issue":
        escrow.issue(ids[one[1]], one[2])
    elif kind in ("limit", "transfer"):
        with transaction(node.sessions) as session:
            account = session.get(LedgerAccount, ids[one[1]])
            assert account is not None
            if kind == "limit":
                service.set_limit(node, session, account, one[2])
            else:
                to = session.get(LedgerAccount, ids[one[2]])
                service.transfer(node, session, account, to, one[3])  # type: ignore[arg-type]
    elif kind == "open":
        _, payer, amount, payees, signer, after = one
        conditions = Conditions(tuple(sorted(ids[p] for p in payees)), ids[signer], now[0] + after)
        opened.append(escrow.open_escrow(ids[payer], amount, conditions))
    elif kind == "release" and opened:
        escrow_id = opened[one[1] % len(opened)]
        payouts, signer = {ids[p]: c for p, c in one[2].items()}, ids[one[3]]
        if one[4]:  # a receipt the conditions allow
            payouts, signer = _allowed(node, escrow_id, payouts)
        receipt = escrow.sign_receipt(escrow_id, payouts, signer)
        first = escrow.release(receipt)
        assert escrow.release(receipt) == first  # the same receipt again: nothing more
        _deliver_again(node, signer, receipt, now[0])
    elif kind == "refund" and opened:
        settled = escrow.refund(opened[one[1] % len(opened)])
        assert escrow.refund(settled.escrow_id) == settled


def _allowed(node: Node, escrow_id: str, payouts: dict[str, int]) -> tuple[dict[str, int], str]:
    with node.sessions() as session:
        row = session.get(LedgerEscrow, escrow_id)
        assert row is not None
        conditions = json.loads(row.conditions)
    allowed = {p: c for p, c in payouts.items() if p in conditions["payees"]}
    while sum(allowed.values()) > row.amount:
        allowed = {p: c // 2 for p, c in allowed.items() if c // 2}
    return allowed, conditions["signer"]


def _deliver_again(node: Node, author: str, receipt: Receipt, ts: int) -> None:
    """The same release, as a new entry by another account (a fresh nonce): the rules alone
    must refuse it, or the escrow would pay twice."""
    body = {"escrow": receipt.escrow_id, "payouts": [list(p) for p in receipt.payouts],
            "signer": receipt.signer, "signature": crypto.b64(receipt.signature)}  # fmt: skip
    with pytest.raises(rules.Refused), transaction(node.sessions) as session:
        journal.append(node, session, author, "escrow_release", body, ts)


def _entries(node: Node) -> list[tuple[bytes, str]]:
    with node.sessions() as session:
        rows = session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)).all()
        return [(row.entry.encode(), row.signature) for row in rows]


def _replays(node: Node, seed: int) -> None:
    entries = _entries(node)
    with node.sessions() as session:
        final = verify(session).state
    before = json.dumps([final.accounts, final.escrows], default=repr, sort_keys=True)
    disorder = entries + random.Random(seed).sample(entries, len(entries)) + entries[:3]
    random.Random(seed + 1).shuffle(disorder)
    for text_, signature in disorder:  # onto the final state: every one is refused
        with pytest.raises(rules.Refused):
            rules.apply(final, rules.Entry.parse(text_), signature)
    assert json.dumps([final.accounts, final.escrows], default=repr, sort_keys=True) == before
    fresh, accepted = rules.State(), set()
    for text_, signature in disorder:  # onto an empty ledger, in disorder
        try:
            rules.apply(fresh, rules.Entry.parse(text_), signature)
        except rules.Refused:
            continue
        assert text_ not in accepted
        accepted.add(text_)
        assert rules.total(fresh) == 0
        assert all(a.limit is None or a.balance >= -a.limit for a in fresh.accounts.values())


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=25), seed=st.integers(0, 2**16))
def test_random_histories_keep_every_invariant(shared: Node, steps: list[tuple], seed: int) -> None:
    with transaction(shared.sessions) as session:
        for table in TABLES:
            session.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (our own table names)
    now = [1_800_000_000]
    escrow = EmbeddedEscrow(shared, clock=lambda: now[0])
    ids = {name: escrow.account(name) for name in NAMES}
    opened: list[str] = []
    prelude = [
        ("issue", name, 3000) for name in NAMES[:2]
    ]  # so that early steps have credit to move
    for one in prelude + steps:
        before = _snapshot(shared)
        try:
            _run(shared, escrow, now, ids, opened, one)
        except (EscrowError, HameauError):
            assert _snapshot(shared) == before, one  # refused: nothing changed
        _invariants(shared)
    with shared.sessions() as session:
        report = verify(session)
    assert report.ok, report.problem
    _replays(shared, seed)

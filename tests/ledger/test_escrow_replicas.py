"""Escrows under replication (Hypothesis): a notary's random history of transfers and escrows
opened, released (the same receipt delivered again, another receipt after it), refunded (again, and
after a release) reaches three replicas (real nodes' databases) through page_after and
accept_page, as pages duplicated, stale, reordered and relayed between replicas. After every
delivery each replica verifies and holds a prefix of the notary's ledger; at the end all
hold the notary's accounts and contracts, and no contract was ever paid twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hameau.errors import HameauError
from hameau.ledger import crypto, journal, rules, service
from hameau.ledger.embedded_escrow import EmbeddedEscrow
from hameau.ledger.escrow import Conditions, EscrowError
from hameau.ledger.models import LedgerAccount, LedgerEntry, LedgerEscrow
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import make_node
from tests.ledger.test_replica_properties import _wipe, scrambled

NAMES = ("ana", "ben", "cleo")

step = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(NAMES), st.sampled_from(NAMES),
              st.integers(1, 3000), st.integers(1, 20)),
    st.tuples(st.just("release"), st.integers(0, 9), st.integers(0, 100), st.integers(1, 2),
              st.booleans()),
    st.tuples(st.just("refund"), st.integers(0, 9), st.integers(1, 2)),
    st.tuples(st.just("wait"), st.integers(1, 30)),
    st.tuples(st.just("again"), st.integers(0, 9)),
    st.tuples(st.just("transfer"), st.sampled_from(NAMES), st.sampled_from(NAMES),
              st.integers(1, 6000)),  # beyond what the payer holds, at times: refused
)  # fmt: skip
message = st.tuples(st.integers(1, 3), st.integers(0, 3), st.integers(0, 40), st.integers(1, 6))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    root = Path(tmp_path_factory.mktemp("escrow-replicas"))
    made = [make_node(root / name) for name in ("notary", "r1", "r2", "r3")]
    yield made
    for node in made:
        node.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000

    def __call__(self) -> int:
        return self.now


def _history(notary: Node, steps: list[tuple]) -> None:
    clock = Clock()
    escrow = EmbeddedEscrow(notary, clock=clock)
    accounts = {name: escrow.account(name) for name in NAMES}
    for name in NAMES:
        escrow.issue(accounts[name], 5000)
    opened: list[tuple[str, str]] = []  # (escrow id, payee)
    for op in steps:
        try:
            if op[0] == "open" and op[1] != op[2]:
                payee = accounts[op[2]]
                conditions = Conditions((payee,), payee, clock.now + op[4])
                opened.append((escrow.open_escrow(accounts[op[1]], op[3], conditions), payee))
            elif op[0] == "release" and opened:
                escrow_id, payee = opened[op[1] % len(opened)]
                before = escrow.settlement(escrow_id).state
                held = _amount(notary, escrow_id)
                cents = {payee: max(1, held * op[2] // 100)}
                receipt = escrow.sign_receipt(escrow_id, cents, payee)
                for _ in range(op[3]):  # the same receipt delivered once or twice
                    assert escrow.release(receipt).state in ("released", before)
                if op[4]:  # then another release, past the backend's guard
                    _again(notary, escrow, clock, opened[op[1] % len(opened)])
            elif op[0] == "refund" and opened:
                for _ in range(op[2]):
                    escrow.refund(opened[op[1] % len(opened)][0])
            elif op[0] == "wait":
                clock.now += op[1]
            elif op[0] == "again" and opened:
                _again(notary, escrow, clock, opened[op[1] % len(opened)])
            elif op[0] == "transfer" and op[1] != op[2]:
                _transfer(notary, accounts[op[1]], accounts[op[2]], op[3])
        except (
            EscrowError,
            rules.Refused,
            HameauError,
        ):  # refused by the rules (too late, too early, settled, no credit): nothing written
            pass


def _transfer(notary: Node, payer: str, payee: str, cents: int) -> None:
    with transaction(notary.sessions) as session:
        source, target = session.get(LedgerAccount, payer), session.get(LedgerAccount, payee)
        service.transfer(notary, session, source, target, cents)  # type: ignore[arg-type]


def _again(notary: Node, escrow: EmbeddedEscrow, clock: Clock, opened: tuple[str, str]) -> None:
    """A new, validly signed release of the contract, written without the backend's guard
    (what a second relayer would send): the rules alone must refuse it once settled."""
    escrow_id, payee = opened
    receipt = escrow.sign_receipt(escrow_id, {payee: 1}, payee)
    body = {"escrow": escrow_id, "payouts": [list(p) for p in receipt.payouts],
            "signer": payee, "signature": crypto.b64(receipt.signature)}  # fmt: skip
    with transaction(notary.sessions) as session:
        author = service.node_account(notary, session, clock()).id
        journal.append(notary, session, author, "escrow_release", body, clock())


def _amount(node: Node, escrow_id: str) -> int:
    with transaction(node.sessions) as session:
        row = session.get(LedgerEscrow, escrow_id)
        assert row is not None
        return row.amount


def _contracts(node: Node) -> dict[str, tuple[str, str]]:
    with transaction(node.sessions) as session:
        return {e.id: (e.state, e.paid) for e in session.scalars(select(LedgerEscrow))}


def _balances(node: Node) -> dict[str, int]:
    with transaction(node.sessions) as session:
        return {a.id: a.balance for a in session.scalars(select(LedgerAccount))}


def _settled_once(node: Node) -> None:
    """Each contract: at most one settlement entry on the ledger; what it paid is its amount."""
    with transaction(node.sessions) as session:
        settlements: dict[str, int] = {}
        for row in session.scalars(
            select(LedgerEntry).where(LedgerEntry.kind.in_(("escrow_release", "escrow_refund")))
        ):
            name = json.loads(row.entry)["body"]["escrow"]
            settlements[name] = settlements.get(name, 0) + 1
        assert all(count == 1 for count in settlements.values()), settlements
        for contract in session.scalars(select(LedgerEscrow)):
            paid = sum(cents for _, cents in json.loads(contract.paid))
            assert paid == (contract.amount if contract.state != "open" else 0)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(step, min_size=1, max_size=14),
    messages=st.lists(message, min_size=3, max_size=20),
    seed=st.integers(0, 2**16),
)
def test_escrows_converge_and_never_pay_twice_whatever_the_delivery(
    nodes: list[Node], steps: list[tuple], messages: list[tuple], seed: int
) -> None:
    for node in nodes:
        _wipe(node)
    _history(nodes[0], steps)
    scrambled(nodes, messages, seed)
    _settled_once(nodes[0])
    for to in (1, 2, 3):
        assert _contracts(nodes[to]) == _contracts(nodes[0])
        assert _balances(nodes[to]) == _balances(nodes[0])

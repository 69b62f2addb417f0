"""Convergence of replicas (Hypothesis): a notary's random history of issuance, limits and
transfers reaches three replicas (real nodes' databases) through the real page_after and
accept_page, as messages duplicated, delayed (stale pages), reordered, and relayed between
replicas. After every delivery each replica verifies (zero sum, limits held, no double
spend, every link and signature) and is a prefix of the notary's ledger; once every replica
has pulled to the end, all hold the same state as the notary."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from hameau.errors import HameauError
from hameau.ledger import journal, replica, service
from hameau.ledger.errors import ReplicaRefused
from hameau.ledger.models import LedgerAccount, LedgerEntry
from hameau.ledger.verify import verify
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import make_node
from tests.ledger.test_properties import TABLES

NAMES = ("ana", "ben", "cleo")

step = st.one_of(
    st.tuples(st.just("issue"), st.sampled_from(NAMES), st.integers(1, 5000)),
    st.tuples(st.just("limit"), st.sampled_from(NAMES), st.integers(0, 3000)),
    st.tuples(
        st.just("transfer"), st.sampled_from(NAMES), st.sampled_from(NAMES), st.integers(1, 4000)
    ),
)
# A message: replica `to` pulls from `source` (0: the notary, 1-3: a replica) the page after
# `after` (a stale one gives duplicates), `size` positions long; delivered in shuffled order.
message = st.tuples(st.integers(1, 3), st.integers(0, 3), st.integers(0, 30), st.integers(1, 6))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    root = Path(tmp_path_factory.mktemp("replicas"))
    made = [make_node(root / name) for name in ("notary", "r1", "r2", "r3")]
    yield made
    for node in made:
        node.close()


def _wipe(node: Node) -> None:
    with transaction(node.sessions) as session:
        for table in TABLES:
            session.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (our own table names)


def _history(notary: Node, steps: list[tuple]) -> None:
    for op in steps:
        try:
            with transaction(notary.sessions) as session:
                named = {n: service.named_account(notary, session, n) for n in NAMES}
                if op[0] == "issue":
                    service.issue(notary, session, named[op[1]], op[2])
                elif op[0] == "limit":
                    service.set_limit(notary, session, named[op[1]], op[2])
                elif op[1] != op[2]:
                    service.transfer(notary, session, named[op[1]], named[op[2]], op[3])
        except HameauError:  # refused by the rules: nothing written, the history goes on
            pass


def _chain(node: Node) -> list[str]:
    with transaction(node.sessions) as session:
        return list(session.scalars(select(LedgerEntry.entry_hash).order_by(LedgerEntry.seq)))


def _state(node: Node) -> dict[str, tuple[int, int | None, int]]:
    with transaction(node.sessions) as session:
        return {a.id: (a.balance, a.limit, a.nonce) for a in session.scalars(select(LedgerAccount))}


def _deliver(nodes: list[Node], to: int, source: int, after: int, size: int) -> None:
    with transaction(nodes[source].sessions) as session:
        page = replica.page_after(session, after, size)
    with nodes[to].sessions() as session:
        try:
            replica.accept_page(session, page)
        except ReplicaRefused as refused:  # a page from beyond this replica's head: a gap
            assert "missing" in str(refused)
        session.commit()


def _pull_to_end(nodes: list[Node], to: int) -> None:
    while True:
        with transaction(nodes[to].sessions) as session:
            found = journal.head(session)
            at = found.seq if found else 0
        _deliver(nodes, to, 0, at, 4)
        if len(_chain(nodes[to])) == len(_chain(nodes[0])):
            return


def scrambled(nodes: list[Node], messages: list[tuple], seed: int) -> None:
    """Every message delivered twice, in a random order: after each, the replica holds a prefix
    of the notary's chain that verifies; then each replica catches up and holds exactly the
    notary's chain and accounts, and verifies."""
    truth = _chain(nodes[0])
    shuffled = [m for m in messages for _ in range(2)]  # every message duplicated
    random.Random(seed).shuffle(shuffled)
    for to, source, after, size in shuffled:
        _deliver(nodes, to, source if source != to else 0, after, size)
        held = _chain(nodes[to])
        assert held == truth[: len(held)]  # a prefix of the notary's, never a fork
        with transaction(nodes[to].sessions) as session:
            assert verify(session).ok
    for to in (1, 2, 3):
        _pull_to_end(nodes, to)
        assert _chain(nodes[to]) == truth
        assert _state(nodes[to]) == _state(nodes[0])
        with transaction(nodes[to].sessions) as session:
            assert verify(session).ok


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(step, min_size=1, max_size=12),
    messages=st.lists(message, min_size=3, max_size=25),
    seed=st.integers(0, 2**16),
)
def test_replicas_converge_whatever_the_delivery(
    nodes: list[Node], steps: list[tuple], messages: list[tuple], seed: int
) -> None:
    for node in nodes:
        _wipe(node)
    _history(nodes[0], steps)
    scrambled(nodes, messages, seed)

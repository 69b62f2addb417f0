"""A replica pulls the hamlet's ledger through replica.py: each position verified as
`hameau ledger verify` does before it is stored; duplicates change nothing; a tampered,
forged, forking or out-of-order position is refused and nothing of it is stored."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from hameau.ledger import journal, replica
from hameau.ledger.errors import ReplicaRefused
from hameau.ledger.models import LedgerAccount, LedgerSignature
from hameau.ledger.verify import verify
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import make_node
from tests.ledger.ledgers import small_ledger


def _page(node: Node, after: int = 0, limit: int = replica.PAGE) -> dict:
    with transaction(node.sessions) as session:
        return replica.page_after(session, after, limit)


def _take(node: Node, page: dict) -> replica.Pulled:
    with node.sessions() as session:
        try:
            return replica.accept_page(session, page)
        finally:
            session.commit()


def _balances(node: Node) -> dict[str, int]:
    with transaction(node.sessions) as session:
        return {a.id: a.balance for a in session.query(LedgerAccount)}


def _head(node: Node) -> int:
    with transaction(node.sessions) as session:
        found = journal.head(session)
        return found.seq if found else 0


def test_a_replica_holds_the_same_ledger_and_verifies_it(tmp_path: Path) -> None:
    notary, _ = small_ledger(tmp_path / "a")
    joiner = make_node(tmp_path / "b")
    pulled = _take(joiner, _page(notary, 0, limit=4))
    assert (pulled.stored, pulled.head) == (4, 4)
    assert _take(joiner, _page(notary, 4)).head == 6
    assert _balances(joiner) == _balances(notary)
    with transaction(joiner.sessions) as session:
        report = verify(session)
    assert report.ok and report.positions == 6
    again = _take(joiner, _page(notary))  # a duplicated, replayed page: nothing changes
    assert (again.stored, again.held, again.head) == (0, 6, 6)


@pytest.mark.parametrize(
    "damage, said",
    [
        (lambda p: p.update(entry=p["entry"].replace("300", "900")), "hash"),
        (lambda p: p.update(signatures=[]), "notaries"),
        (lambda p: p["signatures"][0].update(signature=p["signature"]), "notaries"),
        (lambda p: p.update(prev_hash="1" * 64), "link"),
    ],
    ids=["tampered", "unsigned", "forged-notary", "broken-link"],
)
def test_a_damaged_position_is_refused_and_not_stored(tmp_path: Path, damage, said) -> None:
    notary, _ = small_ledger(tmp_path / "a")
    joiner = make_node(tmp_path / "b")
    page = _page(notary)
    bad = copy.deepcopy(page)
    damage(bad["positions"][4])  # the first transfer, alex pays sam 3 €
    with pytest.raises(ReplicaRefused) as refused:
        _take(joiner, bad)
    assert "does not verify" in str(refused.value) and said in str(refused.value)
    assert _head(joiner) == 4  # the four good positions before it stay, verified
    assert _take(joiner, page).head == 6  # the honest page still goes through


def test_a_gap_or_a_fork_is_refused(tmp_path: Path) -> None:
    notary, _ = small_ledger(tmp_path / "a")
    joiner = make_node(tmp_path / "b")
    with pytest.raises(ReplicaRefused, match="missing"):
        _take(joiner, _page(notary, 3))  # reordered: positions 4.. before 1..3
    assert _head(joiner) == 0
    _take(joiner, _page(notary, 0, limit=5))
    forked = _page(notary, 4)
    forked["positions"][0]["entry_hash"] = "f" * 64
    with pytest.raises(ReplicaRefused, match="fork"):
        _take(joiner, forked)
    assert _head(joiner) == 5


def test_a_home_with_a_ledger_of_its_own_cannot_adopt_the_hamlets(tmp_path: Path) -> None:
    notary, _ = small_ledger(tmp_path / "a")
    other, _ = small_ledger(tmp_path / "b")
    before = _balances(other)
    with pytest.raises(ReplicaRefused, match="ledger of its own"):
        _take(other, _page(notary))
    assert _balances(other) == before


def test_junk_signatures_beside_a_good_one_are_not_kept(tmp_path: Path) -> None:
    notary, _ = small_ledger(tmp_path / "a")
    joiner = make_node(tmp_path / "b")
    page = _page(notary)
    good = page["positions"][0]["signatures"][0]
    page["positions"][0]["signatures"] += [
        {**good, "notary": "someone"},
        {**good, "signature": page["positions"][1]["signatures"][0]["signature"]},
    ]
    assert _take(joiner, page).head == 6
    with transaction(joiner.sessions) as session:
        assert session.query(LedgerSignature).count() == 6
        assert verify(session).ok

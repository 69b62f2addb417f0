"""The escrow's cases, run against every backend of hameau/ledger/escrow.py's interface: the
embedded ledger and the Vyper contract on an EVM chain (eth-tester). Both must agree."""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hameau.ledger.escrow import Conditions, EscrowBackend, EscrowError, Receipt, Settlement
from tests.helpers import make_node

HOUR = 3600


class SettableClock:
    """Unix seconds that a test moves forward; ahead of the wall clock, since a chain's blocks
    never go back in time."""

    def __init__(self) -> None:
        self.now = int(time.time()) + 10_000

    def __call__(self) -> int:
        return self.now


def _importable(module: str, missing: str) -> object:
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.skip(missing)


@pytest.fixture(params=("embedded", "evm"))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    clock = SettableClock()
    if request.param == "embedded":
        embedded = _importable(
            "hameau.ledger.embedded_escrow",
            "not run: the embedded ledger is not on this branch yet",
        )
        node = make_node(tmp_path / "node")
        try:
            yield World(embedded.EmbeddedEscrow(node, clock=clock), clock)  # type: ignore[attr-defined]
        finally:
            node.close()
    else:
        _importable("eth_tester", "not run: eth-tester is not installed (pip install '.[evm]')")
        from hameau.ledger.evm.backend import EvmEscrow

        yield World(EvmEscrow(clock=clock), clock)


@dataclass
class World:
    """A payer with 100 € issued, two payees, the signer named by the conditions and a stranger."""

    ledger: EscrowBackend
    clock: SettableClock
    issued: int = 10_000
    escrowed: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = ("payer", "bob", "carol", "signer", "mallory")
        self.payer, self.bob, self.carol, self.signer, self.mallory = map(
            self.ledger.account, names
        )
        self.ledger.issue(self.payer, self.issued)

    def open(self, amount: int = 3_000, deadline_in: int = HOUR) -> str:
        payees = tuple(sorted((self.bob, self.carol)))
        conditions = Conditions(payees, self.signer, self.clock.now + deadline_in)
        escrow = self.ledger.open_escrow(self.payer, amount, conditions)
        self.escrowed[escrow] = amount
        return escrow

    def receipt(self, escrow: str, bob: int = 1_000, carol: int = 500) -> Receipt:
        return self.ledger.sign_receipt(escrow, {self.bob: bob, self.carol: carol}, self.signer)

    def settled(self, settlement: Settlement) -> None:
        if settlement.state != "open":
            self.escrowed.pop(settlement.escrow_id, None)

    def balances(self) -> dict[str, int]:
        people = ("payer", "bob", "carol", "signer", "mallory")
        return {who: self.ledger.balance(getattr(self, who)) for who in people}

    def assert_nothing_created_or_lost(self) -> None:
        assert sum(self.balances().values()) + sum(self.escrowed.values()) == self.issued


def refused(reason: str):  # type: ignore[no-untyped-def]
    """Expect an EscrowError with exactly this reason."""
    return pytest.raises(EscrowError, match=f"^{reason}$")


def credited(settlement: Settlement) -> dict[str, int]:
    """What a settlement credited, zero lines left out (a backend may or may not list them)."""
    return {account: cents for account, cents in settlement.paid if cents}


def test_a_release_pays_two_payees_and_returns_the_rest(backend: World) -> None:
    escrow = backend.open()
    assert backend.ledger.settlement(escrow) == Settlement(escrow, "open", ())
    assert backend.balances()["payer"] == 7_000  # the locked amount is not spendable
    backend.assert_nothing_created_or_lost()
    settlement = backend.ledger.release(backend.receipt(escrow))
    backend.settled(settlement)
    assert settlement.state == "released"
    assert credited(settlement) == {backend.bob: 1_000, backend.carol: 500, backend.payer: 1_500}
    assert list(settlement.paid) == sorted(settlement.paid)
    assert backend.balances() == {"payer": 8_500, "bob": 1_000, "carol": 500, "signer": 0,
                                  "mallory": 0}  # fmt: skip
    assert backend.ledger.settlement(escrow) == settlement
    backend.assert_nothing_created_or_lost()


def test_the_same_receipt_twice_changes_nothing(backend: World) -> None:
    escrow = backend.open()
    receipt = backend.receipt(escrow)
    first = backend.ledger.release(receipt)
    backend.settled(first)
    balances = backend.balances()
    assert backend.ledger.release(receipt) == first
    assert backend.balances() == balances
    backend.assert_nothing_created_or_lost()


def test_a_second_different_receipt_is_refused(backend: World) -> None:
    escrow = backend.open()
    backend.settled(backend.ledger.release(backend.receipt(escrow)))
    balances = backend.balances()
    with refused("already_settled"):
        backend.ledger.release(backend.receipt(escrow, bob=2_000, carol=0))
    assert backend.balances() == balances
    backend.assert_nothing_created_or_lost()


def test_a_receipt_signed_by_someone_else_is_refused(backend: World) -> None:
    escrow = backend.open()
    by_mallory = backend.ledger.sign_receipt(escrow, {backend.bob: 3_000}, backend.mallory)
    with refused("wrong_signer"):
        backend.ledger.release(by_mallory)
    # Mallory's signature under the signer's name.
    with refused("bad_signature"):
        backend.ledger.release(Receipt(escrow, by_mallory.payouts, backend.signer,
                                       by_mallory.signature))  # fmt: skip
    assert backend.ledger.settlement(escrow).state == "open"
    backend.assert_nothing_created_or_lost()


def test_a_receipt_changed_after_signing_is_refused(backend: World) -> None:
    escrow = backend.open()
    signed = backend.receipt(escrow, bob=1_000, carol=500)
    richer = tuple((payee, cents * 2) for payee, cents in signed.payouts)
    with refused("bad_signature"):
        backend.ledger.release(Receipt(escrow, richer, signed.signer, signed.signature))
    assert backend.ledger.settlement(escrow).state == "open"
    # The untouched receipt still works.
    assert backend.ledger.release(signed).state == "released"


def test_refund_waits_for_the_deadline_then_is_idempotent(backend: World) -> None:
    escrow = backend.open()
    backend.clock.now += HOUR - 100
    with refused("too_early"):
        backend.ledger.refund(escrow)
    backend.clock.now += 200
    settlement = backend.ledger.refund(escrow)
    backend.settled(settlement)
    assert settlement.state == "refunded"
    assert credited(settlement) == {backend.payer: 3_000}
    assert backend.balances()["payer"] == 10_000
    assert backend.ledger.refund(escrow) == settlement
    assert backend.balances()["payer"] == 10_000
    backend.assert_nothing_created_or_lost()


def test_a_release_after_the_deadline_is_refused(backend: World) -> None:
    escrow = backend.open()
    receipt = backend.receipt(escrow)
    backend.clock.now += HOUR + 100
    with refused("too_late"):
        backend.ledger.release(receipt)
    assert backend.ledger.settlement(escrow).state == "open"
    backend.assert_nothing_created_or_lost()


def test_a_release_after_the_refund_is_refused(backend: World) -> None:
    escrow = backend.open()
    receipt = backend.receipt(escrow)
    backend.clock.now += HOUR + 100
    backend.settled(backend.ledger.refund(escrow))
    with refused("already_settled"):
        backend.ledger.release(receipt)
    assert backend.balances()["payer"] == 10_000
    backend.assert_nothing_created_or_lost()


def test_a_refund_after_the_release_is_refused(backend: World) -> None:
    escrow = backend.open()
    backend.settled(backend.ledger.release(backend.receipt(escrow)))
    backend.clock.now += HOUR + 100
    with refused("already_settled"):
        backend.ledger.refund(escrow)
    backend.assert_nothing_created_or_lost()


def test_payouts_over_the_amount_are_refused(backend: World) -> None:
    escrow = backend.open(amount=1_000)
    with refused("over_amount"):
        backend.ledger.release(backend.receipt(escrow, bob=600, carol=401))
    assert backend.ledger.release(backend.receipt(escrow, bob=600, carol=400)).state == "released"


def test_a_payout_to_someone_not_named_is_refused(backend: World) -> None:
    escrow = backend.open()
    receipt = backend.ledger.sign_receipt(escrow, {backend.mallory: 100}, backend.signer)
    with refused("not_payee"):
        backend.ledger.release(receipt)
    assert backend.balances()["mallory"] == 0


def test_a_payer_without_enough_credit_is_refused(backend: World) -> None:
    with refused("insufficient"):
        backend.open(amount=10_001)
    assert backend.balances()["payer"] == 10_000
    backend.open(amount=6_000)
    with refused("insufficient"):
        backend.open(amount=4_001)
    assert backend.balances()["payer"] == 4_000
    backend.assert_nothing_created_or_lost()


def test_an_unknown_escrow_is_refused(backend: World) -> None:
    with refused("unknown_escrow"):
        backend.ledger.settlement("999999")
    with refused("unknown_escrow"):
        backend.ledger.refund("999999")

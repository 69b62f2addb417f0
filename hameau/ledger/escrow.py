"""Escrow contracts behind one small interface: the embedded ledger or an EVM chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol


@dataclass(frozen=True)
class Conditions:
    """Declarative: evaluated the same way by every node (or by the chain) from data alone."""

    payees: tuple[str, ...]  # accounts that may be paid on release
    signer: str  # the account whose signed receipt releases the escrow
    deadline: int  # unix seconds: from then on, refund() returns what is not released


@dataclass(frozen=True)
class Receipt:
    """The signed release: who gets what, signed by Conditions.signer."""

    escrow_id: str
    payouts: tuple[tuple[str, int], ...]  # (payee, cents), sorted by payee; sum <= amount
    signer: str
    signature: bytes  # backend-specific (Ed25519 embedded, secp256k1 on EVM)


@dataclass(frozen=True)
class Settlement:
    escrow_id: str
    state: str  # "open" | "released" | "refunded"
    paid: tuple[tuple[str, int], ...]  # (account, cents) actually credited, sorted; () while open


class EscrowError(Exception):
    """A refused escrow operation; `reason` is one of the strings below."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

# reasons: "insufficient" (payer's balance/limit), "unknown_escrow", "not_payee",
# "bad_signature", "wrong_signer", "over_amount", "already_settled", "too_early" (refund
# before the deadline), "too_late" (release at or after the deadline)


class EscrowBackend(Protocol):
    name: str  # "embedded" | "evm"

    def account(self, name: str) -> str:
        """Make sure the account exists (with its key); return its id in this backend."""

    def issue(self, account: str, cents: int) -> None:
        """The cooperative issues credit to an account (embedded: an issuance entry, the
        cooperative's own account goes down by as much, so the sum stays zero; EVM: mint of
        the euro token)."""

    def balance(self, account: str) -> int:
        """The account's balance in cents, escrowed amounts excluded (embedded: may be
        negative down to the account's limit; a new account's limit is 0, so in the shared
        cases an account spends only what was issued to it)."""

    def open_escrow(self, payer: str, amount: int, conditions: Conditions) -> str:
        """Lock `amount` of the payer's credit; return the escrow id."""

    def sign_receipt(self, escrow_id: str, payouts: dict[str, int], signer: str) -> Receipt:
        """A receipt signed with the signer's key, which this backend holds."""

    def release(self, receipt: Receipt) -> Settlement:
        """Pay the payouts, refund the rest to the payer. The same receipt again returns the
        same settlement and changes nothing (idempotent); any other receipt after
        settlement raises EscrowError("already_settled")."""

    def refund(self, escrow_id: str) -> Settlement:
        """At or after the deadline, if not released: everything back to the payer.
        Idempotent like release."""

    def settlement(self, escrow_id: str) -> Settlement: ...


Clock = Callable[[], int]  # unix seconds; every backend takes `clock=` in its constructor


# The backends import this module; they are loaded by name so that neither imports the other.
BACKENDS = {
    "embedded": "hameau.ledger.embedded_escrow:EmbeddedEscrow",
    "evm": "hameau.ledger.evm.backend:EvmEscrow",
}


def backend(node: object, clock: Clock | None = None) -> EscrowBackend:
    """The escrow backend the `ledger_escrow` setting chooses ("embedded" by default); the EVM
    one is imported only when chosen."""
    import importlib

    chosen = getattr(getattr(node, "settings", None), "ledger_escrow", "embedded")
    module, _, name = BACKENDS[chosen].partition(":")
    made = getattr(importlib.import_module(module), name)
    given = {"clock": clock} if clock is not None else {}
    if chosen != "evm":
        return made(node, **given)  # type: ignore[no-any-return]
    # The EVM adapter's chain lives in this process (eth-tester): one per process, or every
    # escrow opened through an earlier call would be gone.
    if "evm" not in _MADE:
        _MADE["evm"] = made(**given)
    return _MADE["evm"]


_MADE: dict[str, EscrowBackend] = {}

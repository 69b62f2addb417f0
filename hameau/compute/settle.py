"""Paying a run through its escrow: one escrow per run, opened when the run is matched (the
ledger's conditions name their payees at opening, and a provider's node account is on the
ledger only once it has said it takes jobs), released by this node's key to the provider for
what the run earned, the rest back to the member; a run that failed or disagreed is released
with no payout (all of it back at once, no waiting for the deadline). Past the escrow's
deadline a refund does the same. Idempotent: the same release again (Ed25519 signatures are
deterministic, so the receipt is the same) changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from hameau.ledger import crypto
from hameau.ledger.escrow import Conditions, EscrowError, Settlement, backend
from hameau.node.datadir import Node


def margin(node: Node) -> timedelta:
    """After the job's deadline, for the verification and settlement to end: the escrow's
    deadline is the job's plus this (`compute_escrow_margin_minutes`)."""
    return timedelta(minutes=node.settings.compute_escrow_margin_minutes)


def payee_of(public_key_b64: str) -> str:
    """A provider's node account on the ledger, from the key this node pinned for it."""
    return crypto.account_id("node", public_key_b64)


def _node_account(node: Node) -> str:
    from hameau.ledger import service
    from hameau.node.db import transaction

    with transaction(node.sessions) as session:
        return service.node_account(node, session).id


def open_for_run(node: Node, payer: str, payee: str, cents: int, deadline: datetime) -> str:
    """Lock `cents` of the member's credit for one run; the escrow's id."""
    conditions = Conditions(
        payees=(payee,),
        signer=_node_account(node),
        deadline=int((deadline + margin(node)).timestamp()),
    )
    return backend(node).open_escrow(payer, cents, conditions)


def pay(node: Node, escrow_id: str, payee: str, cents: int) -> int:
    """Release the escrow: `cents` to the payee (0: nothing), the rest to the member. Returns
    what the payee was credited."""
    escrow = backend(node)
    receipt = escrow.sign_receipt(escrow_id, {payee: cents} if cents else {}, _node_account(node))
    try:
        done = escrow.release(receipt)
    except EscrowError as error:
        done = _after(node, escrow_id, error)
    return _paid(done, payee)


def _after(node: Node, escrow_id: str, error: EscrowError) -> Settlement:
    escrow = backend(node)
    if error.reason == "too_late":
        return escrow.refund(escrow_id)
    if error.reason == "already_settled":  # released before (a crash before it was recorded)
        from hameau.ledger import remote
        from hameau.node.db import transaction

        with transaction(node.sessions) as session:
            remote.fresh(node, session)  # a replica learns the settlement from its notary
        return escrow.settlement(escrow_id)
    raise error


def _paid(done: Settlement, payee: str) -> int:
    return sum(cents for account, cents in done.paid if account == payee)

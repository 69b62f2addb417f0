"""The embedded escrow beyond the shared cases: what is written on the ledger. Settling again
writes nothing; a receipt changed after release is not "the same"; the setting chooses the
backend; a member's account follows them when they move home."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hameau.export import export_member, import_member
from hameau.ledger import service
from hameau.ledger.embedded_escrow import EmbeddedEscrow
from hameau.ledger.escrow import Conditions, EscrowError, backend
from hameau.ledger.models import LedgerEntry
from hameau.ledger.verify import verify
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, make_node


def _positions(node: Node) -> int:
    with node.sessions() as session:
        return session.scalar(select(func.count(LedgerEntry.id))) or 0


def test_settling_again_writes_nothing(node: Node) -> None:
    now = [1_800_000_000]
    escrow = backend(node, clock=lambda: now[0])
    assert isinstance(escrow, EmbeddedEscrow)
    payer, payee = escrow.account("payer"), escrow.account("payee")
    escrow.issue(payer, 1000)
    first = escrow.open_escrow(payer, 700, Conditions((payee,), payee, now[0] + 60))
    receipt = escrow.sign_receipt(first, {payee: 500}, payee)
    settled = escrow.release(receipt)
    assert settled.paid == tuple(sorted(((payee, 500), (payer, 200))))
    written = _positions(node)
    assert escrow.release(receipt) == settled
    assert _positions(node) == written
    changed = replace(receipt, payouts=((payee, 700),))  # same signature, other payouts
    with pytest.raises(EscrowError) as refused:
        escrow.release(changed)
    assert refused.value.reason == "already_settled"
    second = escrow.open_escrow(payer, 100, Conditions((payee,), payee, now[0] + 60))
    now[0] += 60
    with pytest.raises(EscrowError) as late:
        escrow.release(escrow.sign_receipt(second, {payee: 100}, payee))
    assert late.value.reason == "too_late"
    refunded = escrow.refund(second)
    written = _positions(node)
    assert escrow.refund(second) == refunded and _positions(node) == written
    assert (escrow.balance(payer), escrow.balance(payee)) == (500, 500)
    with node.sessions() as session:
        report = verify(session)
    assert report.ok, report.problem


def test_a_member_who_moves_keeps_their_account(tmp_path: Path) -> None:
    home, away = make_node(tmp_path / "home"), make_node(tmp_path / "away")
    member_id = add_member(home, "alex")
    with transaction(home.sessions) as session:
        from hameau.accounts.models import Member

        account = service.member_account(home, session, session.get(Member, member_id)).id  # type: ignore[arg-type]
    archive = tmp_path / "alex.zip"
    export_member(home, member_id, archive)
    import_member(away, archive)
    import_member(away, archive)  # again: nothing more
    with transaction(away.sessions) as session:
        from hameau.accounts import members

        moved = service.member_account(away, session, members.find_member(session, "alex"))
        assert moved.id == account  # same key, same account
        report = verify(session)
    assert report.ok, report.problem
    from hameau.export import usage_by_part

    usage = dict(usage_by_part(away, "alex"))
    assert usage["ledger"].rows >= 1
    home.close()
    away.close()

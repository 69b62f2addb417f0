"""The escrow interface (escrow.py) on the embedded ledger.

Every operation is one ledger entry checked by the rules (rules.py), so what a node accepts
any member can recompute. Settlement is idempotent above the rules: the same receipt delivered
again, or a refund asked twice, returns the settlement already on the ledger and writes
nothing; a different receipt after settlement is refused. The rules refuse a second
settlement in any case, so even a replayed entry cannot pay twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from hameau.ledger import crypto, journal, rules, service
from hameau.ledger.errors import REASONS, EntryRefused, NoKey
from hameau.ledger.escrow import Clock, Conditions, EscrowError, Receipt, Settlement
from hameau.ledger.models import LedgerAccount, LedgerEscrow
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.node.peer import PeerFailed


def _settlement(escrow: rules.Escrow) -> Settlement:
    return Settlement(escrow.id, escrow.state, escrow.paid if escrow.state != "open" else ())


class EmbeddedEscrow:
    name = "embedded"

    def __init__(self, node: Node, clock: Clock = lambda: int(time.time())) -> None:
        self.node = node
        self.clock = clock

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with transaction(self.node.sessions) as session:
            yield session

    def _append(self, session: Session, author: str, kind: str, body: dict) -> journal.Appended:
        from hameau.ledger import notarise, remote

        found = journal.head(session)
        if not remote.is_notary(self.node, found) or notarise.several(found):
            return self._submit(session, author, kind, body)  # the notaries sequence it
        try:
            return journal.append(self.node, session, author, kind, body, self.clock())
        except rules.Refused as refusal:
            raise EscrowError(refusal.reason) from refusal

    def _submit(self, session: Session, author: str, kind: str, body: dict) -> journal.Appended:
        """At a home that is not the notary, or when there are several: through
        service.append (remote.py, notarise.py); a refusal comes back as its sentence, read
        back into the rules' reason."""
        try:
            return service.append(self.node, session, author, kind, body, self.clock())
        except EntryRefused as refusal:  # refused here, before any notary was asked
            reason = next((r for r, said in REASONS.items() if said == refusal.message), None)
            if reason is None:
                raise
            raise EscrowError(reason) from refusal
        except PeerFailed as failure:
            from hameau.web.i18n import load_catalogues  # the notary says it in its language

            sentences = {
                language.gettext(sentence): reason
                for language in load_catalogues().values()
                for reason, sentence in REASONS.items()
            }
            if failure.code == 400 and failure.why in sentences:
                raise EscrowError(sentences[failure.why]) from failure
            raise

    def _escrow(self, session: Session, escrow_id: str) -> rules.Escrow:
        row = session.get(LedgerEscrow, escrow_id)
        if row is None:
            raise EscrowError("unknown_escrow")
        return journal.to_escrow(row)

    def account(self, name: str) -> str:
        with self._session() as session:
            return service.named_account(self.node, session, name, self.clock()).id

    def issue(self, account: str, cents: int) -> None:
        with self._session() as session:
            coop = service.ensure_ledger(self.node, session, self.clock())
            self._append(session, coop, "issue", {"to": account, "cents": cents})

    def balance(self, account: str) -> int:
        with self._session() as session:
            row = session.get(LedgerAccount, account)
            return row.balance if row is not None else 0

    def open_escrow(self, payer: str, amount: int, conditions: Conditions) -> str:
        body = {"amount": amount, "payees": sorted(set(conditions.payees)),
                "signer": conditions.signer, "deadline": conditions.deadline}  # fmt: skip
        with self._session() as session:
            escrow = self._append(session, payer, "escrow_open", body).escrow
            assert escrow is not None
            return escrow.id

    def sign_receipt(self, escrow_id: str, payouts: dict[str, int], signer: str) -> Receipt:
        ordered = tuple(sorted((payee, cents) for payee, cents in payouts.items() if cents != 0))
        message = crypto.receipt_message(escrow_id, [list(p) for p in ordered])
        with self._session() as session:
            try:
                sign = journal.signer(self.node, session, signer)  # a member's key or the node's
            except NoKey:
                raise EscrowError("wrong_signer") from None
            return Receipt(escrow_id, ordered, signer, sign(message))

    def release(self, receipt: Receipt) -> Settlement:
        body = {"escrow": receipt.escrow_id, "payouts": [list(p) for p in receipt.payouts],
                "signer": receipt.signer, "signature": crypto.b64(receipt.signature)}  # fmt: skip
        with self._session() as session:
            escrow = self._escrow(session, receipt.escrow_id)
            if escrow.state == "released" and self._same(session, escrow, receipt):
                return _settlement(escrow)  # the same receipt again: nothing more
            if escrow.state != "open":
                raise EscrowError("already_settled")
            author = service.node_account(self.node, session, self.clock()).id
            settled = self._append(session, author, "escrow_release", body).escrow
            assert settled is not None
            return _settlement(settled)

    def _same(self, session: Session, escrow: rules.Escrow, receipt: Receipt) -> bool:
        """The receipt that released it: its signature, valid for these payouts."""
        signer = session.get(LedgerAccount, escrow.signer)
        message = crypto.receipt_message(escrow.id, [list(p) for p in receipt.payouts])
        signature = crypto.b64(receipt.signature)
        return (
            signer is not None
            and escrow.receipt == signature
            and crypto.verify(signer.public_key, message, signature)
        )

    def refund(self, escrow_id: str) -> Settlement:
        with self._session() as session:
            escrow = self._escrow(session, escrow_id)
            if escrow.state == "refunded":
                return _settlement(escrow)
            if escrow.state != "open":
                raise EscrowError("already_settled")
            author = service.node_account(self.node, session, self.clock()).id
            settled = self._append(session, author, "escrow_refund", {"escrow": escrow_id}).escrow
            assert settled is not None
            return _settlement(settled)

    def settlement(self, escrow_id: str) -> Settlement:
        with self._session() as session:
            return _settlement(self._escrow(session, escrow_id))

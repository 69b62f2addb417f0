"""The private keys this node keeps for the ledger: its members', the cooperative's.

A member's key is made the first time they use the ledger, and stored in the database sealed
with AES-GCM under a key derived from the node's secret (never in a log, never in the clear on
disk). The node's own account signs with the node's identity key. Moving home carries a
member's key in their environment (environment.py), so the account follows them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.ledger import crypto
from hameau.ledger.models import LedgerKey
from hameau.node.datadir import Node
from hameau.node.identity import derive

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _aead(node: Node):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(derive(node.secret, "ledger-keys"))


def public_of(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return crypto.b64(raw)


def _raw(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def keep(
    node: Node, session: Session, raw: bytes, kind: str, name: str, member_id: int | None = None
) -> LedgerKey:
    """Store a raw Ed25519 private key (made here or carried by a move); idempotent."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    account = crypto.account_id(kind, public_of(Ed25519PrivateKey.from_private_bytes(raw)))
    kept = session.get(LedgerKey, account)
    if kept is not None:
        return kept
    nonce = os.urandom(12)
    sealed = nonce + _aead(node).encrypt(nonce, raw, account.encode())
    kept = LedgerKey(account=account, kind=kind, name=name, member_id=member_id, sealed=sealed)
    session.add(kept)
    session.flush()
    return kept


def make(
    node: Node, session: Session, kind: str, name: str, member_id: int | None = None
) -> LedgerKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return keep(node, session, _raw(Ed25519PrivateKey.generate()), kind, name, member_id)


def raw_key(node: Node, kept: LedgerKey) -> bytes:
    return _aead(node).decrypt(kept.sealed[:12], kept.sealed[12:], kept.account.encode())


def private(node: Node, kept: LedgerKey) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(raw_key(node, kept))


def of_member(session: Session, member_id: int) -> LedgerKey | None:
    return session.scalar(select(LedgerKey).where(LedgerKey.member_id == member_id))


def named(session: Session, kind: str, name: str) -> LedgerKey | None:
    found = select(LedgerKey).where(LedgerKey.kind == kind, LedgerKey.name == name)
    return session.scalars(found.order_by(LedgerKey.made_at)).first()

"""Tables of the hamlet: the paired nodes (their pinned keys), the invitations this node gave,
and the nonces of signed requests already seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow


class HamletPeer(Base):
    """A node this one paired with: its Ed25519 key and its TLS certificate's key are pinned at
    pairing and never change."""

    __tablename__ = "hamlet_peers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The signatures' keyid: derived from the key (NodeIdentity.node_id), so unique with it.
    node_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(300))
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of the raw 32 bytes
    # SHA-256 of its TLS certificate's public key (hameau/node/tls.py): the only one accepted.
    tls_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    paired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the last call to it found: unknown (never called), up, unreachable, refused.
    state: Mapped[str] = mapped_column(String(20), default="unknown")
    # Backoff (hamlet/health.py): failed calls in a row, and no call before next_try_at.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_tried_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The last failure's sentence, untranslated: JSON {"message": msgid, "params": {...}}.
    last_error: Mapped[str | None] = mapped_column(String(600), nullable=True)


class HamletInvitation(Base):
    """A one-time invitation: only the hash of its secret is kept."""

    __tablename__ = "hamlet_invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha-256, hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the joiner's node_id


class HamletNonce(Base):
    """A signed request's nonce, kept until its signature expires (then it cannot be replayed
    anyway, and the row is deleted)."""

    __tablename__ = "hamlet_nonces"
    __table_args__ = (UniqueConstraint("node_id", "nonce"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(String(40))
    nonce: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

"""Tables of the ledger.

The journal is the truth: `ledger_entries` (each signed entry at its position, linked to the
previous one by hash) and `ledger_signatures` (the notaries' signatures, one row per position
and notary, so that three notaries later add rows, not columns). The rest is derived from it
and `hameau ledger verify` checks it against a recomputation: `ledger_head` (the last
position and the rules' running state), `ledger_accounts` and `ledger_escrows`.
`ledger_keys` holds the private keys this node keeps for its members and the cooperative,
encrypted with a key derived from the node's secret.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow


class LedgerEntry(Base):
    """One position of the chain. `entry` is the canonical JSON the author signed; kind,
    author, nonce and ts repeat it for queries (verify checks they agree)."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Not unique on purpose: a fork (two entries at one position) must be storable to be shown.
    seq: Mapped[int] = mapped_column(Integer, index=True)
    entry: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(100))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    author: Mapped[str] = mapped_column(String(40), index=True)
    nonce: Mapped[int] = mapped_column(Integer)
    ts: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerSignature(Base):
    """A notary's signature over a position's hash, in the round it voted in (0: the first
    round, whose signature covers no round number: ledgers from before rounds verify as they
    were)."""

    __tablename__ = "ledger_signatures"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    notary: Mapped[str] = mapped_column(String(40), primary_key=True)  # its node id
    entry_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))
    round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LedgerHead(Base):
    """The last position (one row): appends move it with a conditional update, so two
    writers at once never both take the same position."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    last_ts: Mapped[int] = mapped_column(BigInteger)
    notaries: Mapped[str] = mapped_column(Text)  # JSON: node id -> public key
    coop: Mapped[str] = mapped_column(String(40))


class LedgerAccount(Base):
    """An account as the journal left it (derived)."""

    __tablename__ = "ledger_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(String(120), index=True)
    public_key: Mapped[str] = mapped_column(String(60))
    limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    nonce: Mapped[int] = mapped_column(Integer, default=0)


class LedgerEscrow(Base):
    """An escrow as the journal left it (derived)."""

    __tablename__ = "ledger_escrows"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payer: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    conditions: Mapped[str] = mapped_column(Text)  # JSON: payees, signer, deadline
    state: Mapped[str] = mapped_column(String(10))
    paid: Mapped[str] = mapped_column(Text, default="[]")  # JSON [[account, cents], ...]
    receipt: Mapped[str] = mapped_column(String(100), default="")


class LedgerKey(Base):
    """A private key this node keeps: a member's (member_id) or the cooperative's, or one
    made for a named account (the escrow interface's `account(name)`)."""

    __tablename__ = "ledger_keys"

    account: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(120), index=True)
    member_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM nonce + raw key, encrypted
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

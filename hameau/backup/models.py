"""Tables of the backup: where this node's backups go (targets) and every run with what it
found; and the space this node offers its peers for theirs (one row per peer it ever offered
space to; what a peer stored is not recorded here: its folder on disk is the truth,
hameau/backup/store.py counts it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow

# A run's outcome: running (or killed while it ran, until the next run says so), ok, failed.
OUTCOMES = ("running", "ok", "failed", "interrupted")


class BackupTarget(Base):
    """A place this node's backups go: "peer:NAME" or a folder's absolute path."""

    __tablename__ = "backup_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[str] = mapped_column(String(500), unique=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BackupRun(Base):
    """One backup to one target: when, what restic said of it, and how it ended."""

    __tablename__ = "backup_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str] = mapped_column(String(20), default="running")
    snapshot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    bytes_added: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    total_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    files: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The failure's sentence, untranslated: JSON {"message": msgid, "params": {...}}.
    error: Mapped[str | None] = mapped_column(String(600), nullable=True)


class BackupOffer(Base):
    """Room for a paired peer's restic repository, up to `quota_bytes`. A withdrawn offer
    takes no more data, but what the peer stored stays until the admin deletes it."""

    __tablename__ = "backup_offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The peer's node_id (its signatures' keyid): its repository's folder is named after it.
    peer_node_id: Mapped[str] = mapped_column(String(40), unique=True)
    quota_bytes: Mapped[int] = mapped_column(BigInteger)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the peer last stored a snapshot here (the end of one of its backups).
    last_snapshot_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

"""The space this node offers its peers for their backups: one row per peer it ever offered
space to. What a peer has stored is not recorded here: the peer's folder on disk is the truth
(hameau/backup/store.py counts it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow


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

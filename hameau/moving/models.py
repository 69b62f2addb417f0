"""The table of moves: one row per move on each of the two nodes (role "out" at the member's
old home, "in" at the new one), with the same `move_id`; durable, so a move killed anywhere
goes on from its row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow

# waiting (for the receiver's acceptance) → copying → switching → done; or refused, failed;
# done → rolled_back once the member moved back in the window.
STATES = ("waiting", "refused", "copying", "switching", "done", "rolled_back", "failed")
OPEN = ("waiting", "copying", "switching")


class Move(Base):
    __tablename__ = "moves"
    __table_args__ = (UniqueConstraint("move_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    move_id: Mapped[str] = mapped_column(String(40), index=True)
    role: Mapped[str] = mapped_column(String(3))  # "out" | "in"
    member_name: Mapped[str] = mapped_column(String(40), index=True)
    # When the member joined: a member of the same name here is the same person only then.
    member_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("hamlet_peers.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20), default="waiting")
    by: Mapped[str] = mapped_column(String(20))  # member, admin, automatic, rule, rollback
    # A move back within the window of this earlier move (its move_id), else None.
    rollback_of: Mapped[str | None] = mapped_column(String(40), nullable=True)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    items_total: Mapped[int] = mapped_column(Integer, default=0)
    verified: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(600), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    switched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rollback_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What moved per app, for the report: [{"name": part, "items": rows, "bytes": size}];
    # the sender's from its last export, the receiver's from what it imported.
    parts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)

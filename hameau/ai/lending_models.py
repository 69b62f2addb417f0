"""Tables of the AI this node lends to its peers: each peer's policy (open or not, how many
requests a day, which models), its usage per day (what the coming ledger will bill), and the
lender's log of every request a peer made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow

DEFAULT_PER_DAY = 20


class HamletAIPolicy(Base):
    """What this node's AI lends to one peer; closed until its admin opens it."""

    __tablename__ = "hamlet_ai_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    peer_id: Mapped[int] = mapped_column(
        ForeignKey("hamlet_peers.id", ondelete="CASCADE"), unique=True
    )
    open: Mapped[bool] = mapped_column(Boolean, default=False)
    per_day: Mapped[int] = mapped_column(Integer, default=DEFAULT_PER_DAY)
    models: Mapped[list[str]] = mapped_column(JSON, default=list)  # names of this node's models
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HamletAIUsage(Base):
    """What one peer used of this node's AI on one day (UTC): the figures a ledger bills."""

    __tablename__ = "hamlet_ai_usage"
    __table_args__ = (UniqueConstraint("peer_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("hamlet_peers.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, UTC
    requests: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class HamletAIRequest(Base):
    """One question a peer's member asked this node's AI, as the lender keeps it: the peer, the
    member's pseudonym (never their name), the model, what the model was given and said."""

    __tablename__ = "hamlet_ai_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    peer_id: Mapped[int] = mapped_column(
        ForeignKey("hamlet_peers.id", ondelete="CASCADE"), index=True
    )
    pseudonym: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    model: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text)  # the messages received, as the model read them
    answer: Mapped[str] = mapped_column(Text, default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)

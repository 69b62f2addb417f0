"""Tables of the AI domain: each member's own history of queries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow


class AIQuery(Base):
    """One request to the AI, kept for the member who made it (and deletable by them)."""

    __tablename__ = "ai_queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(20))  # chat, completion, embedding, ask
    model: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)  # the last user message, or the prompt (cut)
    answer: Mapped[str] = mapped_column(Text, default="")
    sources: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    energy_wh: Mapped[float] = mapped_column(Float, default=0.0)  # an estimate, said so
    # Where it ran: "here", or the address of the household's backend it was sent to.
    ran_on: Mapped[str] = mapped_column(String(200), default="here")


class AIAsk(Base):
    """A question posted from the AI page whose answer has not streamed yet: taken once, by
    its member, within a minute, through whichever process serves the stream."""

    __tablename__ = "ai_asks"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # the page holds the key
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    asked: Mapped[dict[str, object]] = mapped_column(JSON)  # the question and its prompt
    posted: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch

"""Tables of the moving pages: each member's choices about moving (their consent to an
automatic move, the proposal they set aside) and the admins' preset of automatic moves."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow


class MoveChoice(Base):
    """One member's choices: off and nothing set aside until they say otherwise."""

    __tablename__ = "move_choices"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    # "An admin may move my home automatically": never assumed, given on the member's page.
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "Not now": the proposal to move to this peer (its node_id) is not shown again until then.
    dismissed_peer: Mapped[str | None] = mapped_column(String(40), nullable=True)
    dismissed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MovePreset(Base):
    """The admins' preset (one row, id 1): automatic moves of consenting members on or off."""

    __tablename__ = "move_presets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""The table of what this node lends (issue 15): one row, set by an admin."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow


class ComputeOffer(Base):
    """The node's offer (row id 1): whether it lends, how much, when, and at what price."""

    __tablename__ = "compute_offer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    cores: Mapped[int] = mapped_column(Integer)
    memory_bytes: Mapped[int] = mapped_column(BigInteger)
    hours_start: Mapped[int] = mapped_column(Integer)  # local hour, 0-23
    hours_end: Mapped[int] = mapped_column(Integer)  # local hour, 1-24; before start: past midnight
    price_per_mfuel: Mapped[int] = mapped_column(Integer)  # cents of credit per million fuel
    max_fuel: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

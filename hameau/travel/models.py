"""Travel's table: the contents a satellite proved it holds by sending their bytes, until
the paths that name them are applied (hameau/travel/reach.py)."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base


class TravelProof(Base):
    """A content one member sent (so may name by hash): shared by the node's processes, so a
    sync whose requests land on different processes is never asked for it twice."""

    __tablename__ = "travel_proofs"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    proved: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch

"""The node's own tables: its name and public identity; records its work keeps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow


class NodeInfo(Base):
    __tablename__ = "node_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NodeRecord(Base):
    """A small record the node's work keeps between runs (the weekly scrub's last run): in
    the database, so that every process serving the node, on any machine, reads the same."""

    __tablename__ = "node_records"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

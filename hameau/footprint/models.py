"""Tables of the footprint: the node itself as a device, the energy counters' small baseline,
and the wall meter's readings entered by hand."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow


class FootprintNode(Base):
    """The machine the node runs on (one row, id 1): its kind, age, the country whose
    electricity it uses, and its CPU (a name of data/cpu_specs.csv) and memory when an admin
    names them because the kernel does not (a virtual machine)."""

    __tablename__ = "footprint_node"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    acquired_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    lifetime_years: Mapped[int | None] = mapped_column(Integer, nullable=True)
    country: Mapped[str] = mapped_column(String(3), default="FRA")
    cpu: Mapped[str | None] = mapped_column(String(100), nullable=True)
    memory_gb: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EnergyCounter(Base):
    """What an energy counter (a RAPL zone) last read, and the energy it counted over the
    periods it was read often enough to see each wrap-around."""

    __tablename__ = "footprint_counters"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    boot_id: Mapped[str] = mapped_column(String(64))
    raw: Mapped[int] = mapped_column(BigInteger)  # the counter's last value (µJ)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)
    joules: Mapped[float] = mapped_column(Float, default=0.0)  # counted over `seconds`
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MeterReading(Base):
    """A reading of a wall meter under the node's machine, entered by a member: either an
    energy over a period (kWh over hours) or a power seen at one moment (watts)."""

    __tablename__ = "footprint_meter_readings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    entered_by: Mapped[str] = mapped_column(String(80))
    watts: Mapped[float] = mapped_column(Float)  # the average power it gives
    kwh: Mapped[float | None] = mapped_column(Float, nullable=True)
    hours: Mapped[float | None] = mapped_column(Float, nullable=True)


class AppCpu(Base):
    """CPU time the node spent serving one app for one member on one day (UTC): one row
    per (day, app, member), added to at the end of each request it counts (sync today)."""

    __tablename__ = "footprint_app_cpu"
    __table_args__ = (UniqueConstraint("day", "app", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, UTC
    app: Mapped[str] = mapped_column(String(20))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)

"""Tables of compute jobs (issue 15): at the submitting node, a job, its input files, its runs
(one per provider asked, each with its own escrow and the provider's signed receipt) and each
provider's record (how often its output agreed); at the providing node, the runs it did for
its peers ("jobs my node ran")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow


class ComputeJob(Base):
    """A job a member submitted here: a WebAssembly module, its arguments and inputs, what it
    may use, what it may cost and how many providers must agree."""

    __tablename__ = "compute_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)  # its name across the hamlet
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # the module's file name, for people
    # matching | running | settling | done | failed
    state: Mapped[str] = mapped_column(String(16), default="matching", index=True)
    reason: Mapped[str] = mapped_column(String(300), default="")
    module: Mapped[str] = mapped_column(String(64))  # the module's blob digest (its sha256)
    args: Mapped[list[str]] = mapped_column(JSON, default=list)
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    memory_bytes: Mapped[int] = mapped_column(BigInteger)
    fuel: Mapped[int] = mapped_column(BigInteger)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    budget_cents: Mapped[int] = mapped_column(Integer)
    price_max: Mapped[int] = mapped_column(Integer)  # cents per million fuel, at most
    redundancy: Mapped[int] = mapped_column(Integer, default=2)  # asked by the member
    needed: Mapped[int] = mapped_column(Integer, default=2)  # runs that must agree, as decided
    input_hash: Mapped[str] = mapped_column(String(64))
    output_hash: Mapped[str] = mapped_column(String(64), default="")  # the verified one
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # verified only
    cost_cents: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ComputeInput(Base):
    """One input file of a job, by its name under /in and its blob."""

    __tablename__ = "compute_inputs"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("compute_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)


class ComputeRun(Base):
    """One provider asked to run a job: its escrow, its state, and what it returned."""

    __tablename__ = "compute_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("compute_jobs.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(40))  # the provider's node id
    provider_name: Mapped[str] = mapped_column(String(100))
    # running | done | failed | agreed | disagreed
    state: Mapped[str] = mapped_column(String(16), default="running")
    reason: Mapped[str] = mapped_column(String(300), default="")
    price: Mapped[int] = mapped_column(Integer)  # cents per million fuel
    escrow_id: Mapped[str] = mapped_column(String(64), default="")
    escrow_cents: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="")  # the sandbox's outcome
    fuel_used: Mapped[int] = mapped_column(BigInteger, default=0)
    output_hash: Mapped[str] = mapped_column(String(64), default="")
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    receipt: Mapped[str] = mapped_column(Text, default="")  # the signed text, as received
    signature: Mapped[str] = mapped_column(String(100), default="")
    paid_cents: Mapped[int] = mapped_column(Integer, default=0)
    settled: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # last answer
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # as the provider reports it


class ComputeRecord(Base):
    """How a provider's outputs compared (BOINC's adaptive replication: a long clean record
    lets it run low-value jobs alone)."""

    __tablename__ = "compute_records"

    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    agreed: Mapped[int] = mapped_column(Integer, default=0)
    disagreed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    streak: Mapped[int] = mapped_column(Integer, default=0)  # agreements since the last dispute
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ComputeProvided(Base):
    """A run this node did for a paired home ("jobs my node ran")."""

    __tablename__ = "compute_provided"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run: Mapped[str] = mapped_column(String(32), unique=True)
    job: Mapped[str] = mapped_column(String(32))
    asker: Mapped[str] = mapped_column(String(40))  # the asking home's node id
    asker_name: Mapped[str] = mapped_column(String(100))
    module: Mapped[str] = mapped_column(String(64))
    args: Mapped[list[str]] = mapped_column(JSON, default=list)
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    memory_bytes: Mapped[int] = mapped_column(BigInteger)
    fuel: Mapped[int] = mapped_column(BigInteger)
    wall_seconds: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(Integer)
    escrow_id: Mapped[str] = mapped_column(String(64), default="")
    # running | done | failed
    state: Mapped[str] = mapped_column(String(16), default="running")
    status: Mapped[str] = mapped_column(String(20), default="")
    reason: Mapped[str] = mapped_column(String(300), default="")
    fuel_used: Mapped[int] = mapped_column(BigInteger, default=0)
    output_hash: Mapped[str] = mapped_column(String(64), default="")
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    receipt: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(String(100), default="")
    # agreed | disagreed, as told; refunded | settled: its escrow ended without a word from the
    # asker (the provider refunded it past its deadline, or found it settled on the ledger)
    verdict: Mapped[str] = mapped_column(String(16), default="")
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # the sandbox process's
    paid_cents: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # by the asker

"""Tables of the accounts domain."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hameau.accounts.tables import DEVICE_KINDS
from hameau.node.db import Base, UTCDateTime, utcnow

__all__ = [
    "DEVICE_KINDS", "AppToken", "Device", "LoginFailure", "LoginSession", "Member", "Workspace",
]  # fmt: skip


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    quota_bytes: Mapped[int] = mapped_column(BigInteger)
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Moving home (issue 13). `moved_to`: the base address of the node that is now the
    # member's home; set at the switch on the node they left, whose copy is then read-only
    # (kept for the rollback window) and whose doors forward there. `frozen_at`: the move's
    # final phase runs; writes wait (refused with "retry shortly"), reads go on.
    moved_to: Mapped[str | None] = mapped_column(String(300), nullable=True)
    moved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def home_here(self) -> bool:
        """This node is the member's home: it accepts their writes (none while frozen)."""
        return self.moved_to is None

    @property
    def initials(self) -> str:
        parts = self.display_name.split()
        letters = "".join(part[0] for part in parts[:2]) or self.name[:2]
        return letters.upper()


class AppToken(Base):
    """A revocable app password for clients (WebDAV, CalDAV, API)."""

    __tablename__ = "app_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The device this password was made for (a satellite's own credential), if any.
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), nullable=True, index=True
    )

    member: Mapped[Member] = relationship()


class Device(Base):
    """A terminal registered on the node, shared by the household or personal to one member."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    shared: Mapped[bool] = mapped_column(Boolean)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True
    )
    acquired_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    lifetime_years: Mapped[int | None] = mapped_column(Integer, nullable=True)
    specs: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The enrolled browser's credential (hash of the long-lived device cookie).
    secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A one-time code to enrol a browser without an admin logging in on it.
    enrol_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    enrol_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    owner: Mapped[Member | None] = relationship()


class LoginSession(Base):
    """A server-side browser session; the cookie holds a secret whose hash is stored here."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), nullable=True
    )
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    member: Mapped[Member] = relationship()
    device: Mapped[Device | None] = relationship()


class Workspace(Base):
    """Where a member last was: the app and item they had open, and on which device."""

    __tablename__ = "workspaces"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    app: Mapped[str] = mapped_column(String(40))
    item: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    path: Mapped[str] = mapped_column(String(500))
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="SET NULL"), nullable=True
    )
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    device: Mapped[Device | None] = relationship()


class LoginFailure(Base):
    """Recent failed logins of one account or address, shared by every process serving the
    node on PostgreSQL (hameau/accounts/ratelimit.py): at most a few stamps per row."""

    __tablename__ = "login_failures"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # "account" or "address"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    stamps: Mapped[str] = mapped_column(Text, default="")  # seconds since the epoch, oldest first
    last: Mapped[float] = mapped_column(Float, index=True)

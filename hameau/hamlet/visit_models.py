"""Tables of visits (a member of this home using a paired home's shared terminal): the
one-time authorization codes of the sign-in, and the visits themselves, which the move to
another home (next) will read. Only hashes of codes and access tokens are kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hameau.accounts.models import LoginSession, Member
from hameau.node.db import Base, UTCDateTime, utcnow


class HamletVisitCode(Base):
    """An authorization code given to a peer's terminal: single use, 60 seconds."""

    __tablename__ = "hamlet_visit_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    peer_node_id: Mapped[str] = mapped_column(String(40))
    redirect_uri: Mapped[str] = mapped_column(String(400))
    scope: Mapped[str] = mapped_column(String(100))
    nonce: Mapped[str | None] = mapped_column(String(200), nullable=True)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    device_label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class HamletVisitDevice(Base):
    """A device sign-in (RFC 8628) asked by a peer's terminal that cannot reach this node: its
    device code (hash) for the peer, its user code for the member, and the member's answer."""

    __tablename__ = "hamlet_visit_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_code: Mapped[str] = mapped_column(String(8), unique=True)  # 8 letters, no dash
    peer_node_id: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(100))
    nonce: Mapped[str | None] = mapped_column(String(200), nullable=True)
    device_label: Mapped[str] = mapped_column(String(100), default="")
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), nullable=True
    )
    approved: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # None: not yet
    interval: Mapped[int] = mapped_column(Integer, default=5)  # seconds between polls
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class HamletVisit(Base):
    """A member's visit from a peer's shared terminal: who, from which home and device, when,
    how long, and how it ended. Its browser session (shared, with the shared devices' idle
    rules) is a login session this node made for it, never seen by the peer."""

    __tablename__ = "hamlet_visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    peer_node_id: Mapped[str] = mapped_column(String(40))
    peer_name: Mapped[str] = mapped_column(String(100))  # as it was called then
    device_label: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    login_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="SET NULL"), nullable=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # member (from their sessions page), terminal (revoked by the peer), logout, idle,
    # expired (VISIT_LIFETIME), left (this home left the peer)
    ended_by: Mapped[str | None] = mapped_column(String(20), nullable=True)

    member: Mapped[Member] = relationship()
    login: Mapped[LoginSession | None] = relationship()


class HamletVisitor(Base):
    """A visitor on this node's shared devices (hamlet/visitors.py): a sign-in under way or a
    visit going on, found by its cookie key's hash through whichever process serves; its
    secrets (the PKCE verifier, the home's access token) sealed with the node's own key."""

    __tablename__ = "hamlet_visitors"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "sign-in" or "visit"
    peer_id: Mapped[int] = mapped_column(ForeignKey("hamlet_peers.id", ondelete="CASCADE"))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    started: Mapped[float] = mapped_column(Float)  # seconds since the epoch, as the next two
    expires: Mapped[float] = mapped_column(Float)
    last_used: Mapped[float] = mapped_column(Float, index=True)
    idle_seconds: Mapped[float] = mapped_column(Float)


class HamletDeviceSignIn(Base):
    """A device sign-in (RFC 8628) under way on this node's terminal (terminal_device.py),
    found by its cookie key's hash through whichever process serves: what the visitor's home
    gave (its device code and the OpenID nonce sealed with the node's own key) and where the
    polls stand. `polling_until` is set while one process polls the home for it: the others
    leave it alone until then (a process killed mid-poll holds it no longer)."""

    __tablename__ = "hamlet_device_sign_ins"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("hamlet_peers.id", ondelete="CASCADE"))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    user_code: Mapped[str] = mapped_column(String(20))
    verification_uri: Mapped[str] = mapped_column(String(300))
    complete: Mapped[str] = mapped_column(String(400))
    started: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch, as
    expires: Mapped[float] = mapped_column(Float)  # these: when the home forgets it
    interval: Mapped[float] = mapped_column(Float)
    next_poll: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(10), default="")
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    polling_until: Mapped[float | None] = mapped_column(Float, nullable=True)

"""Server-side login sessions: created at login, checked on each request, revoked at logout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, joinedload

from hameau.accounts.models import AppToken, Device, LoginSession, Member
from hameau.accounts.secrets import digest, new_secret
from hameau.config import Settings
from hameau.errors import NotFound
from hameau.node.db import utcnow

# last_seen_at is written at most this often, so reading pages does not write every time.
TOUCH_EVERY = timedelta(seconds=30)
KEEP_ENDED = timedelta(days=30)


@dataclass(frozen=True)
class Lifetimes:
    absolute: timedelta
    personal_idle: timedelta
    shared_idle: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Lifetimes:
        return cls(
            absolute=timedelta(days=settings.session_days),
            personal_idle=timedelta(days=settings.personal_idle_days),
            shared_idle=timedelta(minutes=settings.shared_idle_minutes),
        )

    def idle(self, login: LoginSession) -> timedelta:
        return self.shared_idle if login.shared else self.personal_idle

    def touch_every(self, login: LoginSession) -> timedelta:
        """How stale last_seen_at may get: a short idle time needs a finer record."""
        return min(TOUCH_EVERY, self.idle(login) / 4)


def create_session(
    session: Session,
    member: Member,
    device: Device | None,
    lifetimes: Lifetimes,
    *,
    user_agent: str = "",
    address: str = "",
    shared: bool = False,
    secret: str | None = None,
) -> tuple[LoginSession, str]:
    """A new session; `shared` (or a shared device) gives it the shared devices' rules, and
    `secret` is for a caller that derives the secret itself (a visit from another home)."""
    secret = secret or new_secret()
    now = utcnow()
    shared = shared or bool(device and device.shared)
    login = LoginSession(
        token_hash=digest(secret),
        member_id=member.id,
        device_id=device.id if device else None,
        shared=shared,
        user_agent=user_agent[:300],
        address=address[:64],
        created_at=now,
        last_seen_at=now,
        expires_at=now + (lifetimes.shared_idle if shared else lifetimes.absolute),
    )
    session.add(login)
    _forget_old(session)
    session.flush()
    return login, secret


def _forget_old(session: Session) -> None:
    """Drop sessions that ended long ago; done at login, so nothing runs on a timer."""
    cutoff = utcnow() - KEEP_ENDED
    session.execute(delete(LoginSession).where(LoginSession.expires_at < cutoff))


def is_live(login: LoginSession, lifetimes: Lifetimes) -> bool:
    now = utcnow()
    return (
        login.revoked_at is None
        and login.member.active
        and now < login.expires_at
        and now - login.last_seen_at < lifetimes.idle(login)
    )


def resolve(
    session: Session, secret: str, lifetimes: Lifetimes, *, active: bool = True
) -> LoginSession | None:
    """The live session for this cookie secret, or None; an active request touches it."""
    if not secret or len(secret) > 100:
        return None
    # One query for the session, its member and its device: this runs on every request.
    query = (
        select(LoginSession)
        .options(joinedload(LoginSession.member), joinedload(LoginSession.device))
        .where(LoginSession.token_hash == digest(secret))
    )
    login = session.scalar(query)
    if login is None or not is_live(login, lifetimes):
        return None
    if active and utcnow() - login.last_seen_at > lifetimes.touch_every(login):
        touch(login, lifetimes)
    return login


def touch(login: LoginSession, lifetimes: Lifetimes) -> None:
    """The member is active now: a shared device's session starts its idle time again."""
    now = utcnow()
    login.last_seen_at = now
    if login.shared:
        login.expires_at = now + lifetimes.shared_idle


def seconds_left(login: LoginSession, lifetimes: Lifetimes) -> float:
    """Seconds before the session ends by itself if nothing more happens."""
    now = utcnow()
    ends = min(login.expires_at, login.last_seen_at + lifetimes.idle(login))
    return max(0.0, (ends - now).total_seconds())


def find_by_secret(session: Session, secret: str) -> LoginSession | None:
    """The session for this secret even if it has ended (to tell idle logout from no login)."""
    if not secret or len(secret) > 100:
        return None
    return session.scalar(select(LoginSession).where(LoginSession.token_hash == digest(secret)))


def revoke(login: LoginSession) -> None:
    login.revoked_at = login.revoked_at or utcnow()


def list_for_member(session: Session, member: Member, lifetimes: Lifetimes) -> list[LoginSession]:
    logins = session.scalars(
        select(LoginSession)
        .where(LoginSession.member_id == member.id, LoginSession.revoked_at.is_(None))
        .order_by(LoginSession.last_seen_at.desc())
    )
    return [login for login in logins if is_live(login, lifetimes)]


def revoke_for_member(session: Session, member: Member, session_id: int) -> LoginSession:
    login = session.get(LoginSession, session_id)
    if login is None or login.member_id != member.id:
        raise NotFound("No such session.")
    revoke(login)
    return login


def on_devices(session: Session, since: datetime) -> list[tuple[int, int, datetime, datetime]]:
    """(device id, member id, start, last seen) of the sessions on registered devices active
    since `since`, for the footprint's measure of sharing (ended ones are kept 30 days)."""
    rows = session.execute(
        select(
            LoginSession.device_id, LoginSession.member_id,
            LoginSession.created_at, LoginSession.last_seen_at,
        ).where(LoginSession.device_id.is_not(None), LoginSession.last_seen_at >= since)
    )  # fmt: skip
    return [(int(d or 0), int(m), start, seen) for d, m, start, seen in rows]


def last_activity(session: Session, besides: int | None = None) -> datetime | None:
    """When a member last made a request (a session's or an app password's last use), as
    recorded: at most TOUCH_EVERY (sessions) or tokens.TOUCH_EVERY behind; no write added.
    `besides`: a session left out (the one looking)."""
    sessions = select(func.max(LoginSession.last_seen_at))
    if besides is not None:
        sessions = sessions.where(LoginSession.id != besides)
    seen = session.scalar(sessions)
    used = session.scalar(select(func.max(AppToken.last_used_at)))
    return max((moment for moment in (seen, used) if moment is not None), default=None)

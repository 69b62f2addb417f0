"""App passwords: revocable secrets that clients (WebDAV, CalDAV, API) log in with."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from hameau.accounts.models import AppToken, Member
from hameau.accounts.secrets import digest, new_secret
from hameau.errors import BadRequest, NotFound
from hameau.node.db import utcnow

PREFIX = "hm_"
TOUCH_EVERY = timedelta(minutes=1)


def create_token(session: Session, member: Member, label: str) -> tuple[AppToken, str]:
    """A new app password; the secret is returned once and only its hash is kept."""
    label = label.strip()
    if not label or len(label) > 80:
        raise BadRequest("Give the app password a label of 1 to 80 characters.")
    secret = PREFIX + new_secret()
    token = AppToken(member_id=member.id, label=label, token_hash=digest(secret))
    session.add(token)
    session.flush()
    return token, secret


def list_tokens(session: Session, member: Member) -> list[AppToken]:
    return list(
        session.scalars(
            select(AppToken).where(AppToken.member_id == member.id).order_by(AppToken.id)
        )
    )


def revoke_token(session: Session, token_id: int, member: Member | None = None) -> AppToken:
    """Revoke a token; with ``member`` given, only one of that member's own."""
    token = session.get(AppToken, token_id)
    if token is None or (member is not None and token.member_id != member.id):
        raise NotFound("No app password with id %(id)s.", id=token_id)
    token.revoked_at = token.revoked_at or utcnow()
    return token


def live_token(session: Session, secret: str) -> AppToken | None:
    """The live app password with this secret, of an active member, or None."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    token = session.scalar(select(AppToken).where(AppToken.token_hash == digest(secret)))
    if token is None or token.revoked_at is not None or not token.member.active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
    return token


def authenticate_token(session: Session, secret: str) -> Member | None:
    """The active member owning this live app password, or None."""
    token = live_token(session, secret)
    return token.member if token is not None else None


_LOGIN = (  # built once: WebDAV asks it on every request
    select(AppToken.id, AppToken.last_used_at, Member.id.label("member_id"))
    .join(Member, Member.id == AppToken.member_id)
    .where(
        AppToken.token_hash == bindparam("hash"),
        AppToken.revoked_at.is_(None),
        Member.disabled_at.is_(None),
        Member.name == bindparam("name"),
    )
)


def login(session: Session, name: str, secret: str) -> int | None:
    """The id of the active member called ``name`` owning this live app password, or None:
    one statement, for the clients that log in on every request (WebDAV)."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    found = session.execute(_LOGIN, {"hash": digest(secret), "name": name.strip().lower()}).first()
    if found is None:
        return None
    _touch(session, found.id, found.last_used_at)
    return int(found.member_id)


def _touch(session: Session, token_id: int, last_used_at: datetime | None) -> None:
    now = utcnow()
    if last_used_at is None or now - last_used_at > TOUCH_EVERY:
        session.execute(update(AppToken).where(AppToken.id == token_id).values(last_used_at=now))


_LOGIN_MEMBER = (  # the same, the member's row as an entity
    select(Member, AppToken.id.label("token_id"), AppToken.last_used_at)
    .join(AppToken, Member.id == AppToken.member_id)
    .where(
        AppToken.token_hash == bindparam("hash"),
        AppToken.revoked_at.is_(None),
        Member.disabled_at.is_(None),
        Member.name == bindparam("name"),
    )
)


def login_member(session: Session, name: str, secret: str) -> Member | None:
    """`login`, the member loaded by the same statement (a WebDAV PUT needs it)."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    query = {"hash": digest(secret), "name": name.strip().lower()}
    found = session.execute(_LOGIN_MEMBER, query).first()
    if found is None:
        return None
    _touch(session, found.token_id, found.last_used_at)
    return found.Member  # type: ignore[no-any-return]

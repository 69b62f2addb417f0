"""Members: adding, finding, authenticating, disabling, quotas and preferences."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hameau.accounts.models import AppToken, LoginSession, Member
from hameau.accounts.secrets import MIN_PASSWORD_LENGTH, hash_password, verify_password
from hameau.errors import N_, BadRequest, Conflict, NotFound, Unauthorized
from hameau.node.db import utcnow

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
LOCALES = ("fr", "en")


RESERVED = ("household", "shared", "mine")  # names of shared spaces and calendars
QUOTA_MB_MOST = 1024 * 1024 * 1024  # a pebibyte: more than any node holds
QUOTA_RANGE = N_("A quota is a number of megabytes between 0 and 1,073,741,824.")


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not NAME_PATTERN.match(name):
        raise BadRequest(
            "A member name is 2 to 40 lowercase letters, digits, '-' or '_', starting with a letter."
        )
    if name in RESERVED:
        raise BadRequest(
            "The name '%(name)s' is kept for the household; choose another.", name=name
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(
            "A password needs at least %(count)s characters.", count=MIN_PASSWORD_LENGTH
        )
    if len(password) > 1024:
        raise BadRequest("A password can be at most 1024 characters.")
    return password


def add_member(
    session: Session,
    name: str,
    password: str,
    *,
    quota_bytes: int,
    display_name: str | None = None,
    admin: bool = False,
    locale: str | None = None,
) -> Member:
    name = check_name(name)
    check_password(password)
    if not 0 <= quota_bytes <= QUOTA_MB_MOST << 20:
        raise BadRequest(QUOTA_RANGE)
    if session.scalar(select(Member.id).where(Member.name == name)) is not None:
        raise Conflict("A member named '%(name)s' already exists.", name=name)
    display = (display_name or "").strip() or name.capitalize()
    if len(display) > 80:
        raise BadRequest("A display name can be at most 80 characters.")
    member = Member(
        name=name,
        display_name=display,
        password_hash=hash_password(password),
        is_admin=admin,
        quota_bytes=quota_bytes,
        locale=locale if locale in LOCALES else None,
    )
    session.add(member)
    session.flush()
    return member


def count_members(session: Session) -> int:
    return session.scalar(select(func.count(Member.id))) or 0


def list_members(session: Session, active_only: bool = False) -> list[Member]:
    query = select(Member).order_by(Member.display_name, Member.name)
    if active_only:  # and living here: not moved to another home
        query = query.where(Member.disabled_at.is_(None), Member.moved_to.is_(None))
    return list(session.scalars(query))


def get_member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("No such member.")
    return member


def find_member(session: Session, name: str) -> Member:
    member = session.scalar(select(Member).where(Member.name == name.strip().lower()))
    if member is None:
        raise NotFound("No member named '%(name)s'.", name=name)
    return member


async def authenticate(session: Session, name: str, password: str) -> Member:
    """The member with this name and password, if active; one vague error otherwise.

    The Argon2 check (~20 ms of CPU) runs in a worker thread, off the event loop."""
    import anyio.to_thread  # the server's; the command line never checks a password this way

    member = session.scalar(select(Member).where(Member.name == name.strip().lower()))
    stored = member.password_hash if member else None
    valid = await anyio.to_thread.run_sync(verify_password, stored, password)
    if member is None or not valid or not member.active:
        raise Unauthorized("Wrong name or password, or this account is disabled.")
    return member


def set_disabled(session: Session, member: Member, disabled: bool) -> None:
    """Disable (ending every session and app password at once) or enable a member."""
    now = utcnow()
    if disabled:
        member.disabled_at = member.disabled_at or now
        session.execute(
            update(LoginSession)
            .where(LoginSession.member_id == member.id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        session.execute(
            update(AppToken)
            .where(AppToken.member_id == member.id, AppToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    else:
        member.disabled_at = None


def set_quota(member: Member, quota_mb: int) -> None:
    if not 0 <= quota_mb <= QUOTA_MB_MOST:
        raise BadRequest(QUOTA_RANGE)
    member.quota_bytes = quota_mb * 1024 * 1024


def set_locale(member: Member, locale: str) -> None:
    if locale not in LOCALES:
        raise BadRequest("The language must be 'fr' or 'en'.")
    member.locale = locale


def set_password(member: Member, password: str) -> None:
    member.password_hash = hash_password(check_password(password))

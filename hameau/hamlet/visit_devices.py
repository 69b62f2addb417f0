"""Device sign-ins of visits (RFC 8628), the home's side: a peer's terminal that cannot reach
this node asks, over the signed channel, for a device code (kept for that peer) and a user
code (shown on the terminal); the member types the user code here, on any device that
reaches this node, and approves or refuses; the terminal's node polls the token endpoint
with the device code and, once approved, gets the same visit as the code flow (visits.py).

The rules (pure functions below, no I/O): a user code is 8 letters from an alphabet without
vowels nor look-alikes, shown XXXX-XXXX, typed in any case with or without the dash; both
codes live EXPIRES_IN; the terminal polls at most once per `interval`, and each poll that
comes too soon adds SLOW_DOWN seconds to it (RFC 8628 §3.5); an approved code gives one
visit, once; a refused or expired one never gives any. Only the device code's hash is kept.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.accounts.secrets import digest
from hameau.hamlet.visit_models import HamletVisitDevice
from hameau.node.db import utcnow

PAGE = "/hamlet/visit/device"  # where the member types a device sign-in's user code

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels (no words), no 0/O, 1/I
USER_CODE_LETTERS = 8
EXPIRES_IN = 600  # seconds a device sign-in waits for the member
INTERVAL = 5  # seconds between the terminal's polls, at least
SLOW_DOWN = 5  # seconds added to the interval by each poll that came too soon


def new_user_code() -> str:
    """A fresh user code, as shown: XXXX-XXXX."""
    letters = "".join(secrets.choice(ALPHABET) for _ in range(USER_CODE_LETTERS))
    return shown(letters)


def shown(code: str) -> str:
    """A user code as people read it: two groups of four letters."""
    half = USER_CODE_LETTERS // 2
    return f"{code[:half]}-{code[half:]}"


def normalized(typed: str) -> str | None:
    """The user code a person typed, as kept (8 letters, upper case), or None if it cannot
    be one: case, spaces and dashes do not matter; any other character does."""
    letters = "".join(char for char in typed.upper() if char not in " -\t")
    if len(letters) != USER_CODE_LETTERS or any(char not in ALPHABET for char in letters):
        return None
    return letters


def expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at


def too_soon(polled_at: datetime | None, interval: int, now: datetime) -> bool:
    """Whether a poll comes before the interval since the last one has passed."""
    return polled_at is not None and now - polled_at < timedelta(seconds=interval)


def save(
    db: Session, device_code: str, user_code: str, peer_node_id: str, scope: str,
    nonce: str | None, device_label: str,
) -> HamletVisitDevice:  # fmt: skip
    now = utcnow()
    row = HamletVisitDevice(
        device_code_hash=digest(device_code), user_code=normalized(user_code),
        peer_node_id=peer_node_id, scope=scope, nonce=nonce, device_label=device_label[:100],
        interval=INTERVAL, created_at=now, expires_at=now + timedelta(seconds=EXPIRES_IN),
    )  # fmt: skip
    db.add(row)
    db.flush()
    return row


def forget_expired(db: Session) -> None:
    db.execute(delete(HamletVisitDevice).where(HamletVisitDevice.expires_at < utcnow()))


def user_code_taken(db: Session, user_code: str) -> bool:
    query = select(HamletVisitDevice.id).where(HamletVisitDevice.user_code == normalized(user_code))
    return db.scalars(query).first() is not None


def by_device_code(db: Session, device_code: str) -> HamletVisitDevice | None:
    if not device_code or len(device_code) > 200:
        return None
    query = select(HamletVisitDevice).where(
        HamletVisitDevice.device_code_hash == digest(device_code)
    )
    return db.scalars(query).first()


def waiting(db: Session, typed: str) -> HamletVisitDevice | None:
    """The device sign-in of a user code a member typed, if it still waits for an answer."""
    code = normalized(typed)
    if code is None:
        return None
    found = db.scalars(select(HamletVisitDevice).where(HamletVisitDevice.user_code == code)).first()
    if found is None or found.approved is not None or expired(found.expires_at, utcnow()):
        return None
    return found


def decide(row: HamletVisitDevice, member: Member, approved: bool) -> None:
    """The member's answer, once."""
    row.member_id, row.approved = member.id, approved


def polled(row: HamletVisitDevice) -> bool:
    """A poll of a sign-in still waiting: whether it came too soon (its interval then grows)."""
    now = utcnow()
    slow = too_soon(row.polled_at, row.interval, now)
    if slow:
        row.interval += SLOW_DOWN
    row.polled_at = now
    return slow


def take(db: Session, row: HamletVisitDevice) -> bool:
    """An approved sign-in used up now: whether this request is the one that took it."""
    deleted = db.execute(delete(HamletVisitDevice).where(HamletVisitDevice.id == row.id))
    return deleted.rowcount == 1  # type: ignore[attr-defined]

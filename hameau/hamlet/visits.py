"""Visits, the home's side: a member of this node signs in here from a paired home's shared
terminal, and that home relays their requests with an access token this node gave it.

The rules: a sign-in's code is used once, within CODE_LIFETIME, by the peer it was given to;
a visit's access token is random and only its hash is kept; it works only on requests signed
by that peer; behind it is a shared login session of this node (the shared devices' idle
logout, generic titles), whose secret is derived from the token with this node's secret, so
the peer never holds a credential usable without its own signature. A visit ends when the
member ends it, the terminal revokes it, the member logs out through it, its session goes idle
or it reaches VISIT_LIFETIME; an ended visit never works again. Plain functions over a
database session; no network here.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, joinedload

from hameau.accounts import sessions
from hameau.accounts.models import Member
from hameau.accounts.secrets import digest, new_secret
from hameau.errors import NotFound
from hameau.hamlet.models import HamletPeer
from hameau.hamlet.visit_models import HamletVisit, HamletVisitCode, HamletVisitDevice
from hameau.node.db import utcnow
from hameau.node.identity import derive

CODE_LIFETIME = timedelta(seconds=60)
VISIT_LIFETIME = timedelta(hours=12)
SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often
TOKEN_PREFIX = "hv_"  # noqa: S105 - tells a visit's bearer token from an app password at a glance
CALLBACK = "/visit/callback"


def callback_of(peer: HamletPeer) -> str:
    """The only redirect_uri a peer's terminal may ask for."""
    return peer.address.rstrip("/") + CALLBACK


def pseudonym(node_secret: bytes, member_id: int, peer_node_id: str) -> str:
    """The `sub` a peer knows a member by: stable for that peer, meaningless to any other."""
    key = derive(node_secret, "visit-sub")
    return hmac.new(key, f"{member_id}:{peer_node_id}".encode(), hashlib.sha256).hexdigest()[:32]


def session_secret(node_secret: bytes, token: str) -> str:
    """The secret of a visit's login session: derived, so never sent to anyone."""
    key = derive(node_secret, "visit-session")
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CodeRequest:
    """What a sign-in asked for, kept with its code until the terminal exchanges it."""

    peer_node_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    device_label: str


def save_code(db: Session, code: str, member: Member, asked: CodeRequest) -> None:
    now = utcnow()
    db.execute(delete(HamletVisitCode).where(HamletVisitCode.expires_at < now))
    db.add(
        HamletVisitCode(
            code_hash=digest(code), member_id=member.id, peer_node_id=asked.peer_node_id,
            redirect_uri=asked.redirect_uri, scope=asked.scope, nonce=asked.nonce,
            code_challenge=asked.code_challenge,
            code_challenge_method=asked.code_challenge_method,
            device_label=asked.device_label[:100], created_at=now, expires_at=now + CODE_LIFETIME,
        )
    )  # fmt: skip


def take_code(db: Session, code: str, peer_node_id: str) -> HamletVisitCode | None:
    """The code's request, used up now (even if the exchange fails later), if it is fresh and
    was given to this peer; None otherwise."""
    if not code or len(code) > 200:
        return None
    found = db.scalars(
        select(HamletVisitCode).where(HamletVisitCode.code_hash == digest(code))
    ).first()
    if found is None:
        return None
    # Deleted by its id: of two workers racing for one code, only one deletes a row.
    deleted = db.execute(delete(HamletVisitCode).where(HamletVisitCode.id == found.id))
    taken = deleted.rowcount  # type: ignore[attr-defined]
    if taken != 1 or found.peer_node_id != peer_node_id or found.expires_at < utcnow():
        return None
    return found


def start(
    db: Session,
    node_secret: bytes,
    lifetimes: sessions.Lifetimes,
    code: HamletVisitCode | HamletVisitDevice,
    peer: HamletPeer,
) -> tuple[HamletVisit, str]:
    """A new visit for the member of `code` (a code's or an approved device sign-in's), with
    its shared login session; returns the visit and its access token (given once, to the
    peer)."""
    token = TOKEN_PREFIX + new_secret()
    member = db.get(Member, code.member_id)
    assert member is not None  # the code's row is deleted with the member
    login, _ = sessions.create_session(
        db, member, None, lifetimes, shared=True, secret=session_secret(node_secret, token)
    )
    now = utcnow()
    visit = HamletVisit(
        member_id=member.id, peer_node_id=peer.node_id, peer_name=peer.name,
        device_label=code.device_label, token_hash=digest(token), login_session_id=login.id,
        started_at=now, last_seen_at=now,
    )  # fmt: skip
    db.add(visit)
    db.flush()
    return visit, token


def _settle(visit: HamletVisit, lifetimes: sessions.Lifetimes) -> None:
    """Record the end of a visit that ended by itself (idle, logout, too long) since."""
    if visit.ended_at is not None:
        return
    now = utcnow()
    login = visit.login
    if login is not None and login.revoked_at is not None:
        visit.ended_at, visit.ended_by = login.revoked_at, "logout"
    elif login is None or not sessions.is_live(login, lifetimes):
        last = login.last_seen_at if login is not None else visit.last_seen_at
        visit.ended_at, visit.ended_by = min(now, last + lifetimes.shared_idle), "idle"
    elif now - visit.started_at > VISIT_LIFETIME:
        visit.ended_at, visit.ended_by = visit.started_at + VISIT_LIFETIME, "expired"
        sessions.revoke(login)


def end(visit: HamletVisit, by: str) -> None:
    """End a visit at once: its next relayed request is refused."""
    if visit.ended_at is None:
        visit.ended_at, visit.ended_by = utcnow(), by
    if visit.login is not None:
        sessions.revoke(visit.login)


def _by_token(db: Session, token: str) -> HamletVisit | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    query = (
        select(HamletVisit)
        .options(joinedload(HamletVisit.login))
        .where(HamletVisit.token_hash == digest(token))
    )
    return db.scalars(query).first()


def live(db: Session, token: str, signer: str, lifetimes: sessions.Lifetimes) -> HamletVisit | None:
    """The ongoing visit of this token, if `signer` (the node that signed the request) is the
    peer it was given to; its last sight recorded (at most once a minute)."""
    visit = _by_token(db, token)
    if visit is None or visit.peer_node_id != signer:
        return None
    _settle(visit, lifetimes)
    if visit.ended_at is not None:
        return None
    now = utcnow()
    if now - visit.last_seen_at >= SEEN_EVERY:
        visit.last_seen_at = now
    return visit


def end_by_token(db: Session, token: str, signer: str) -> None:
    """The terminal ends its visit (RFC 7009: unknown tokens are no error)."""
    visit = _by_token(db, token)
    if visit is not None and visit.peer_node_id == signer:
        end(visit, "terminal")


def for_member(
    db: Session, member: Member, lifetimes: sessions.Lifetimes, limit: int = 30
) -> list[HamletVisit]:
    """The member's visits, ongoing ones first, then the latest."""
    found = list(
        db.scalars(
            select(HamletVisit)
            .options(joinedload(HamletVisit.login))
            .where(HamletVisit.member_id == member.id)
            .order_by(HamletVisit.started_at.desc())
            .limit(limit)
        )
    )
    left = set(db.scalars(select(HamletPeer.node_id).where(HamletPeer.revoked_at.is_not(None))))
    for visit in found:
        if visit.ended_at is None and visit.peer_node_id in left:
            end(visit, "left")  # this home left that one: its requests are refused anyway
        _settle(visit, lifetimes)
    return sorted(found, key=lambda visit: visit.ended_at is not None)


def end_for_member(db: Session, member: Member, visit_id: int) -> HamletVisit:
    visit = db.get(HamletVisit, visit_id)
    if visit is None or visit.member_id != member.id:
        raise NotFound("No such visit.")
    end(visit, "member")
    return visit


def login_session_ids(db: Session, member: Member) -> set[int]:
    """The login sessions behind the member's visits (the sessions page lists them apart)."""
    query = select(HamletVisit.login_session_id).where(
        HamletVisit.member_id == member.id, HamletVisit.login_session_id.is_not(None)
    )
    return {found for found in db.scalars(query) if found is not None}


def minutes(visit: HamletVisit) -> int:
    """How long a visit lasted (so far), in whole minutes, at least one."""
    until = visit.ended_at or visit.last_seen_at
    return max(1, round((until - visit.started_at).total_seconds() / 60))


def counts_by_peer(db: Session, member: Member, since: datetime) -> dict[str, int]:
    """How many visits the member began through each peer (its node_id) since `since`: what
    the proposal to move home reads (hameau/moving/proposal.py)."""
    query = (
        select(HamletVisit.peer_node_id, func.count(HamletVisit.id))
        .where(HamletVisit.member_id == member.id, HamletVisit.started_at >= since)
        .group_by(HamletVisit.peer_node_id)
    )
    return {peer: int(count) for peer, count in db.execute(query)}

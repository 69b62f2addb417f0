"""Pairing and trust: invitations (one use, hashed, with an expiry), the peers' pinned keys,
leaving a peer. Plain functions over a database session; no network here."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hameau.errors import BadRequest
from hameau.hamlet.errors import InvitationRefused, PeerNotFound
from hameau.hamlet.models import HamletInvitation, HamletPeer
from hameau.hamlet.signing import fingerprint_of, log, node_id_of, public_key
from hameau.node import json_input

if TYPE_CHECKING:  # cryptography (~6 MB) loads with the first key read (signing.public_key)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PREFIX = "hameau-invite-"


@dataclass(frozen=True)
class Invitation:
    """What an invitation line says: where the inviter is, its key's fingerprint, the secret
    that works once, until when, and the fingerprint of the certificate it serves HTTPS with
    (`tls`, hameau/node/tls.py: the joiner accepts no other)."""

    address: str
    fingerprint: str
    secret: str
    expires: datetime
    tls: str = ""

    def text(self) -> str:
        payload = {
            "a": self.address, "f": self.fingerprint, "s": self.secret,
            "e": int(self.expires.timestamp()), "t": self.tls,
        }  # fmt: skip
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def check_address(address: str) -> str:
    """A node's address as others reach it: an https URL with a host (peers refuse plain
    HTTP: what they say to each other is members' data)."""
    parts = urlsplit(address.strip())
    if parts.scheme == "http" and parts.hostname:
        raise BadRequest(
            "Home servers talk to each other over HTTPS only: run the home server with"
            " `hameau serve --tls` and give its https:// address."
        )
    if parts.scheme != "https" or not parts.hostname:
        raise BadRequest(
            "An address is an https:// URL with a host, e.g. https://192.168.1.20:8080."
        )
    return address.strip().rstrip("/")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def invite(
    db: Session, public_bytes: bytes, address: str, hours: float, tls_fingerprint: str
) -> Invitation:
    """A new one-time invitation; only its secret's hash is kept. `tls_fingerprint`: the
    certificate this node serves HTTPS with (hamlet/client.py:own_fingerprint)."""
    secret = secrets.token_urlsafe(24)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    db.add(HamletInvitation(secret_hash=_hash(secret), expires_at=expires))
    key = fingerprint_of(public_bytes)
    return Invitation(check_address(address), key, secret, expires, tls_fingerprint)


def parse(text: str) -> Invitation:
    """The invitation a line holds; BadRequest if it is not one."""
    garbled = BadRequest(
        "This is not a hamlet invitation; copy the whole line `hameau hamlet invite` printed."
    )
    text = text.strip()
    if not text.startswith(PREFIX):
        raise garbled
    body = text[len(PREFIX) :]
    try:
        found = json_input.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        expires = datetime.fromtimestamp(int(found["e"]), UTC)
        tls = str(found.get("t") or "")  # absent from invitations made before TLS
        given = Invitation(str(found["a"]), str(found["f"]), str(found["s"]), expires, tls)
    except (ValueError, KeyError, TypeError, binascii.Error, OverflowError):
        raise garbled from None
    check_address(given.address)
    if not given.tls:
        raise BadRequest(
            "This invitation does not say which certificate the other home server serves"
            " HTTPS with; ask for a new one, made after `hameau serve --tls`."
        )
    return given


def redeem(db: Session, secret: str, joiner: str) -> None:
    """Use up the invitation whose secret this is (the inviter's side); InvitationRefused if
    it is unknown, used or expired."""
    found = db.scalars(
        select(HamletInvitation).where(HamletInvitation.secret_hash == _hash(secret))
    ).first()
    if found is None or found.used_at is not None or found.expires_at < datetime.now(UTC):
        why = "unknown" if found is None else "used" if found.used_at else "expired"
        log.warning("refused a pairing from %s: the invitation is %s", joiner, why)
        raise InvitationRefused(
            "This invitation is unknown, already used or expired; ask for a new one."
        )
    found.used_at, found.used_by = datetime.now(UTC), joiner


def pin(
    db: Session, public_b64: str, name: str, address: str, tls_fingerprint: str | None = None
) -> HamletPeer:
    """Pair with the node holding this key (again, if it was left): its key is pinned, and
    the fingerprint of the certificate it serves HTTPS with."""
    node_id = node_id_of(base64.b64decode(public_b64))
    peer = db.scalars(select(HamletPeer).where(HamletPeer.node_id == node_id)).first()
    if peer is None:
        peer = HamletPeer(node_id=node_id, public_key=public_b64)
        db.add(peer)
    peer.name, peer.address = name[:100], address.rstrip("/")[:300]
    peer.tls_fingerprint = tls_fingerprint
    peer.paired_at, peer.revoked_at, peer.state = datetime.now(UTC), None, "unknown"
    db.flush()
    return peer


def peers(db: Session) -> list[HamletPeer]:
    return list(db.scalars(select(HamletPeer).order_by(HamletPeer.name, HamletPeer.id)))


def find(db: Session, name_or_id: str) -> HamletPeer:
    found = db.scalars(
        select(HamletPeer)
        .where(or_(HamletPeer.name == name_or_id, HamletPeer.node_id == name_or_id))
        .order_by(HamletPeer.revoked_at.is_not(None))
    ).first()
    if found is None:
        raise PeerNotFound(
            "No paired home server is called %(peer)s; see `hameau hamlet list`.", peer=name_or_id
        )
    return found


def leave(db: Session, peer: HamletPeer) -> None:
    """Stop trusting a peer at once: its next request is refused (401)."""
    if peer.revoked_at is None:
        peer.revoked_at = datetime.now(UTC)
    log.info("left peer %s (%s)", peer.name, peer.node_id)


def trusted_key(db: Session, key_id: str) -> Ed25519PublicKey | None:
    """The pinned key of a paired, unrevoked peer (None otherwise, and the log says why)."""
    peer = db.scalars(select(HamletPeer).where(HamletPeer.node_id == key_id)).first()
    if peer is None or peer.revoked_at is not None:
        log.warning("keyid %s is %s", key_id, "not paired" if peer is None else "revoked")
        return None
    return public_key(peer.public_key)


def seen(db: Session, key_id: str) -> HamletPeer:
    """The peer whose signed request was just accepted, its last sight recorded."""
    peer = db.scalars(select(HamletPeer).where(HamletPeer.node_id == key_id)).one()
    peer.last_seen_at = datetime.now(UTC)
    return peer

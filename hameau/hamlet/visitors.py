"""Visitors on this node's shared devices (the terminal's side of a visit): the sign-ins under
way and the visits going on, kept in memory only.

A sign-in under way is the OpenID Connect request's `state`, `nonce` and PKCE verifier,
found again by a random key in a short-lived cookie of the browser that started it. A visit
is the visitor's home (a paired peer), the access token their home gave for this device,
and their name as their home said it: nothing of their data. Both are forgotten at logout,
when the visit ends at home, when the token expires, after the shared device's idle time
without a request, or when the node restarts (the visitor signs in again). Cookies hold only
random keys; the store keeps the keys' hashes.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from hameau.hamlet.errors import SignInRefused

START_COOKIE = "hameau_visit_start"
VISIT_COOKIE = "hameau_visit"
START_SECONDS = 600  # a sign-in at home must be finished within ten minutes
MOST_PENDING = 200  # sign-ins under way at once; the oldest are dropped past it
MOST_VISITS = 200


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def challenge_of(verifier: str) -> str:
    """PKCE's S256 challenge (RFC 7636): base64url of the verifier's SHA-256, unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class Pending:
    """A sign-in started on this device, waiting for the visitor's home to send them back."""

    peer_id: int
    state: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    started: float = field(default_factory=time.monotonic)


@dataclass
class Visit:
    """A visitor working here in their own environment, at their home `peer_id`."""

    peer_id: int
    home: str  # the home's name, for the sentences of this node's pages
    name: str  # the visitor's name as their home said it (the id token's `name`)
    access_token: str
    expires: float  # time.monotonic() when the token expires
    idle_seconds: float
    last_used: float = field(default_factory=time.monotonic)
    client: Any = None  # the signed client toward the home (answers checked): revoking
    relay: Any = None  # the one for relayed pages (answers streamed): both keep connections

    def alive(self, now: float) -> bool:
        return now < self.expires and now - self.last_used < self.idle_seconds


class Visitors:
    """The store: sign-ins under way and visits, by the hashes of their cookies' keys."""

    def __init__(self) -> None:
        self.pending: dict[str, Pending] = {}
        self.visits: dict[str, Visit] = {}
        self.dropped: list[Visit] = []  # gone idle or expired here: to be ended at home too

    def start(self, peer_id: int) -> tuple[str, Pending]:
        """A new sign-in; its cookie key and what goes into the request to the home."""
        now = time.monotonic()
        for key in [k for k, p in self.pending.items() if now - p.started > START_SECONDS]:
            del self.pending[key]
        while len(self.pending) >= MOST_PENDING:
            del self.pending[next(iter(self.pending))]
        key = secrets.token_urlsafe(32)
        pending = self.pending[_hash(key)] = Pending(peer_id)
        return key, pending

    def finish(self, key: str, state: str) -> Pending:
        """The sign-in this browser started, once: its `state` must be the one sent back."""
        pending = self.pending.pop(_hash(key), None) if key else None
        if pending is None or time.monotonic() - pending.started > START_SECONDS:
            raise SignInRefused(
                "This sign-in was not started on this device, or too long ago; start again."
            )
        if not secrets.compare_digest(pending.state.encode(), state.encode()):
            raise SignInRefused(
                "This answer from your home does not match the sign-in started here; start again."
            )
        return pending

    def open(self, visit: Visit) -> str:
        """Keeps a visit; the key for its cookie."""
        self._drop_stale()
        while len(self.visits) >= MOST_VISITS:
            self.dropped.append(self.visits.pop(next(iter(self.visits))))
        key = secrets.token_urlsafe(32)
        self.visits[_hash(key)] = visit
        return key

    def find(self, key: str) -> Visit | None:
        """The live visit of a cookie key (its last use now), or None."""
        if not key or len(key) > 100:
            return None
        visit = self.visits.get(_hash(key))
        now = time.monotonic()
        if visit is None or not visit.alive(now):
            if visit is not None:
                self.dropped.append(self.visits.pop(_hash(key)))
            return None
        visit.last_used = now
        return visit

    def forget(self, key: str) -> Visit | None:
        return self.visits.pop(_hash(key), None) if key else None

    def _drop_stale(self) -> None:
        now = time.monotonic()
        for key in [k for k, v in self.visits.items() if not v.alive(now)]:
            self.dropped.append(self.visits.pop(key))

    def take_dropped(self) -> list[Visit]:
        found, self.dropped = self.dropped, []
        return found


def check_id_token(
    token: str, public_key: Any, home_id: str, home_address: str, own_id: str, nonce: str
) -> dict[str, Any]:
    """The claims of the home's id token, verified with the home's pinned Ed25519 key: its
    key id, audience (this node), issuer (the home's address), nonce and expiry."""
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import OKPKey

    refused = SignInRefused("Your home's answer could not be verified; nothing was kept here.")
    try:
        with warnings.catch_warnings():  # joserfc calls EdDSA deprecated (RFC 9864): Ed25519 it is
            warnings.simplefilter("ignore")
            found = jwt.decode(token, OKPKey.import_key(public_key), algorithms=["EdDSA"])
        if found.header.get("kid") != home_id:
            raise refused
        issuers = {home_address.rstrip("/"), home_id}
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "values": list(issuers)},
            aud={"essential": True, "value": own_id},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(found.claims)
    except (JoseError, ValueError) as error:
        raise refused from error
    return dict(found.claims)


def visitors_of(app: Any) -> Visitors:
    """The node's store of visitors, made on first use (in memory: a restart forgets it)."""
    found = getattr(app.state, "visitors", None)
    if found is None:
        found = app.state.visitors = Visitors()
    return found

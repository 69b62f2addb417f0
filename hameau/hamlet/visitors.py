"""Visitors on this node's shared devices (the terminal's side of a visit): the sign-ins under
way and the visits going on, in the database (`hamlet_visitors`), so a visitor's requests may
reach any process serving the node (docs/scale.md).

A sign-in under way is the OpenID Connect request's `state`, `nonce` and PKCE verifier,
found again by a random key in a short-lived cookie of the browser that started it. A visit
is the visitor's home (a paired peer), the access token their home gave for this device,
and their name as their home said it: nothing of their data. Both are forgotten at logout,
when the visit ends at home, when the token expires, after the shared device's idle time
without a request. Cookies hold only random keys; the store keeps the keys' hashes, and the
secrets (the PKCE verifier, the home's access token) sealed (AES-GCM) with a key derived from
the node's own secret, which is in the data dir, not in the database. The connections toward
the home are each process's own, made when a visit is first seen there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update

from hameau.hamlet.errors import SignInRefused

START_COOKIE = "hameau_visit_start"
VISIT_COOKIE = "hameau_visit"
START_SECONDS = 600  # a sign-in at home must be finished within ten minutes
MOST_PENDING = 200  # sign-ins under way at once; the oldest are dropped past it
MOST_VISITS = 200
TOUCH_SECONDS = 30.0  # a visit's last use is written at most this often
TIMEOUT, CONNECT = 15.0, 3.0  # toward the visitor's home: a relayed page's timeouts


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
    started: float = field(default_factory=time.time)


@dataclass
class Visit:
    """A visitor working here in their own environment, at their home `peer_id`."""

    peer_id: int
    home: str  # the home's name, for the sentences of this node's pages
    name: str  # the visitor's name as their home said it (the id token's `name`)
    access_token: str
    expires: float  # time.time() when the token expires
    idle_seconds: float
    last_used: float = field(default_factory=time.time)
    client: Any = None  # the signed client toward the home (answers checked): revoking
    relay: Any = None  # the one for relayed pages (answers streamed): both keep connections

    def alive(self, now: float) -> bool:
        return now < self.expires and now - self.last_used < self.idle_seconds


class Visitors:
    """The store: sign-ins under way and visits, by the hashes of their cookies' keys."""

    def __init__(self, node: Any, connect: Any = None) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from hameau.node.identity import derive

        self.node = node
        self.connect = connect or _connect  # (node, peer id) -> (client, relay)
        self.dropped: list[Visit] = []  # gone idle or expired: to be ended at home too
        self._clients: dict[str, tuple[Any, Any]] = {}  # this process's, by key hash
        self._box = AESGCM(derive(node.secret, "hamlet visitors"))

    def _seal(self, key_hash: str, secret: dict[str, str]) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._box.encrypt(nonce, json.dumps(secret).encode(), key_hash.encode())

    def _unseal(self, row: Any) -> dict[str, str]:
        sealed = bytes(row.sealed)
        return dict(json.loads(self._box.decrypt(sealed[:12], sealed[12:], row.key_hash.encode())))

    def start(self, peer_id: int) -> tuple[str, Pending]:
        """A new sign-in; its cookie key and what goes into the request to the home."""
        from hameau.hamlet.visit_models import HamletVisitor as Row

        key, pending = secrets.token_urlsafe(32), Pending(peer_id)
        secret = {"state": pending.state, "nonce": pending.nonce, "verifier": pending.verifier}
        with self._db() as db:
            db.execute(delete(Row).where(Row.kind == "sign-in", Row.expires < pending.started))
            _keep_room(db, "sign-in", MOST_PENDING)
            db.add(Row(key_hash=_hash(key), kind="sign-in", peer_id=peer_id,
                       sealed=self._seal(_hash(key), secret), started=pending.started,
                       expires=pending.started + START_SECONDS, last_used=pending.started,
                       idle_seconds=START_SECONDS))  # fmt: skip
        return key, pending

    def finish(self, key: str, state: str) -> Pending:
        """The sign-in this browser started, once: its `state` must be the one sent back."""
        row = self._take(key, "sign-in") if key and len(key) <= 100 else None
        if row is None or time.time() - row.started > START_SECONDS:
            raise SignInRefused(
                "This sign-in was not started on this device, or too long ago; start again."
            )
        pending = Pending(row.peer_id, started=row.started, **self._unseal(row))
        if not secrets.compare_digest(pending.state.encode(), state.encode()):
            raise SignInRefused(
                "This answer from your home does not match the sign-in started here; start again."
            )
        return pending

    def open(self, visit: Visit) -> str:
        """Keeps a visit; the key for its cookie."""
        from hameau.hamlet.visit_models import HamletVisitor as Row

        self._drop_stale()
        key = secrets.token_urlsafe(32)
        secret = {"home": visit.home, "name": visit.name, "access_token": visit.access_token}
        with self._db() as db:
            for gone in _keep_room(db, "visit", MOST_VISITS):
                self.dropped.append(self._visit(gone, forget=True))
            db.add(Row(key_hash=_hash(key), kind="visit", peer_id=visit.peer_id,
                       sealed=self._seal(_hash(key), secret), started=time.time(),
                       expires=visit.expires, last_used=visit.last_used,
                       idle_seconds=visit.idle_seconds))  # fmt: skip
        self._clients[_hash(key)] = (visit.client, visit.relay)
        return key

    def find(self, key: str) -> Visit | None:
        """The live visit of a cookie key (its last use now), or None."""
        from hameau.hamlet.visit_models import HamletVisitor as Row

        if not key or len(key) > 100:
            return None
        with self.node.sessions() as db:
            row = db.get(Row, _hash(key))
        if row is None or row.kind != "visit":
            self._clients.pop(_hash(key), None)  # ended through another process
            return None
        now, visit = time.time(), self._visit(row)
        if not visit.alive(now):
            if self._take(key, "visit") is not None:
                self.dropped.append(self._visit(row, forget=True))
            return None
        if now - row.last_used > TOUCH_SECONDS:
            with self._db() as db:
                db.execute(update(Row).where(Row.key_hash == row.key_hash).values(last_used=now))
        visit.last_used = now
        return visit

    def forget(self, key: str) -> Visit | None:
        row = self._take(key, "visit") if key and len(key) <= 100 else None
        return self._visit(row, forget=True) if row is not None else None

    def _visit(self, row: Any, forget: bool = False) -> Visit:
        """The visit of a row, with this process's connections toward its home."""
        said = self._unseal(row)
        clients = self._clients.pop(row.key_hash, None) if forget else None
        if clients is None:
            clients = self._clients.get(row.key_hash) or self.connect(self.node, row.peer_id)
            if not forget:
                self._clients[row.key_hash] = clients
        return Visit(row.peer_id, said["home"], said["name"], said["access_token"], row.expires,
                     row.idle_seconds, row.last_used, *clients)  # fmt: skip

    def _take(self, key: str, kind: str) -> Any:
        """The row of a key, deleted: by one process only, however many ask at once."""
        from hameau.hamlet.visit_models import HamletVisitor as Row

        with self._db() as db:
            row = db.get(Row, _hash(key))
            if row is None or row.kind != kind:
                return None
            db.expunge(row)
            taken = db.execute(delete(Row).where(Row.key_hash == row.key_hash)).rowcount
        return row if taken else None

    def _drop_stale(self) -> None:
        from hameau.hamlet.visit_models import HamletVisitor as Row

        now = time.time()
        with self.node.sessions() as db:
            stale = db.scalars(select(Row.key_hash).where(
                Row.kind == "visit",
                (Row.expires < now) | (Row.last_used + Row.idle_seconds < now))).all()  # fmt: skip
        for key_hash in stale:
            row = self._take_hash(key_hash)
            if row is not None:
                self.dropped.append(self._visit(row, forget=True))

    def _take_hash(self, key_hash: str) -> Any:
        from hameau.hamlet.visit_models import HamletVisitor as Row

        with self._db() as db:
            row = db.get(Row, key_hash)
            if row is None:
                return None
            db.expunge(row)
            taken = db.execute(delete(Row).where(Row.key_hash == key_hash)).rowcount
        return row if taken else None

    def _db(self) -> Any:
        from hameau.node.db import transaction

        return transaction(self.node.sessions)

    def take_dropped(self) -> list[Visit]:
        found, self.dropped = self.dropped, []
        return found


def _keep_room(db: Any, kind: str, most: int) -> list[Any]:
    """The oldest rows of `kind` past `most - 1`, deleted (and returned) to make room."""
    from hameau.hamlet.visit_models import HamletVisitor as Row

    query = select(Row).where(Row.kind == kind).order_by(Row.started.desc()).offset(most - 1)
    gone = list(db.scalars(query))
    for row in gone:
        db.expunge(row)
    if gone:
        db.execute(delete(Row).where(Row.key_hash.in_([row.key_hash for row in gone])))
    return gone


def _connect(node: Any, peer_id: int) -> tuple[Any, Any]:
    """The signed clients toward a visit's home: checked answers, and relayed pages."""
    from hameau.hamlet.client import to_peer_async, to_peer_relay
    from hameau.hamlet.models import HamletPeer

    with node.sessions() as db:
        peer = db.get(HamletPeer, peer_id)
        assert peer is not None  # its visits go with it (ON DELETE CASCADE)
        db.expunge(peer)
    return (
        to_peer_async(node, peer, timeout=TIMEOUT, connect=CONNECT),
        to_peer_relay(node, peer, timeout=TIMEOUT, connect=CONNECT),
    )


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
    """The node's store of visitors, made on first use."""
    found = getattr(app.state, "visitors", None)
    if found is None:
        found = app.state.visitors = Visitors(app.state.node)
    return found

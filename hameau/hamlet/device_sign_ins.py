"""Device sign-ins under way on this node's terminals (terminal_device.py), in the database
(`hamlet_device_sign_ins`), so the waiting page's polls may reach any process serving the
node (docs/scale.md). Found by a random key in a cookie of the browser that started it; the
store keeps the key's hash, and the home's device code and the OpenID nonce sealed (AES-GCM)
with a key derived from the node's own secret, as visitors.py does.

One poll of the home at a time, whichever process the page's requests reach: a process polls
only once it has claimed the sign-in (a conditional UPDATE, one row, which one process wins
on SQLite as on PostgreSQL) until its poll is written back or `CLAIM` seconds have passed
(a process killed mid-poll holds it no longer)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update

from hameau.hamlet.visit_models import HamletDeviceSignIn as Row

LONGEST = 1800  # seconds a sign-in is kept here at most, whatever the home said
MOST = 200  # sign-ins under way at once; the oldest are dropped past it
CLAIM = 30.0  # seconds a poll may take (its timeouts are shorter) before another may poll


@dataclass
class DeviceSignIn:
    """A device sign-in started on this terminal: what the home gave and where it stands."""

    peer_id: int
    device_code: str
    user_code: str
    verification_uri: str
    complete: str  # verification_uri_complete: the QR code's address
    expires: float  # time.time() when the home forgets it
    interval: float
    nonce: str
    next_poll: float = 0.0
    outcome: str = ""  # "", or: approved, denied, expired, refused
    unreachable: bool = False  # the last poll did not reach the home


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _usable(key: str) -> bool:
    return bool(key) and len(key) < 100


class DeviceSignIns:
    """The store of sign-ins under way, by the hashes of their cookies' keys."""

    def __init__(self, node: Any) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from hameau.node.identity import derive

        self.node = node
        self._box = AESGCM(derive(node.secret, "hamlet device sign-ins"))

    def start(self, sign_in: DeviceSignIn) -> str:
        """Keeps a new sign-in; the key for its cookie."""
        key, now = secrets.token_urlsafe(32), time.time()
        key_hash = _hash(key)
        nonce = os.urandom(12)
        secret = json.dumps({"device_code": sign_in.device_code, "nonce": sign_in.nonce})
        sealed = nonce + self._box.encrypt(nonce, secret.encode(), key_hash.encode())
        with self._db() as db:
            db.execute(delete(Row).where(Row.expires + LONGEST < now))
            old = select(Row.key_hash).order_by(Row.started.desc()).offset(MOST - 1)
            db.execute(delete(Row).where(Row.key_hash.in_(list(db.scalars(old)))))
            db.add(Row(key_hash=key_hash, peer_id=sign_in.peer_id, sealed=sealed,
                       user_code=sign_in.user_code, verification_uri=sign_in.verification_uri,
                       complete=sign_in.complete, started=now, expires=sign_in.expires,
                       interval=sign_in.interval, next_poll=sign_in.next_poll,
                       outcome=sign_in.outcome, unreachable=sign_in.unreachable))  # fmt: skip
        return key

    def find(self, key: str) -> DeviceSignIn | None:
        """The sign-in of a cookie key as it stands, or None."""
        if not _usable(key):
            return None
        with self.node.sessions() as db:
            row = db.get(Row, _hash(key))
            return self._sign_in(row) if row is not None else None

    def claim(self, key: str, now: float) -> bool:
        """Whether this process may poll the home for this sign-in now: it is not over, its
        interval has passed, and no other poll is under way (then none may start until
        `record`, or until `CLAIM` seconds have passed)."""
        if not _usable(key):
            return False
        free = (Row.polling_until.is_(None)) | (Row.polling_until < now)
        with self._db() as db:
            claimed = db.execute(
                update(Row)
                .where(Row.key_hash == _hash(key), Row.outcome == "", Row.next_poll <= now, free)
                .values(polling_until=now + CLAIM)
            ).rowcount
        return bool(claimed)

    def record(self, key: str, sign_in: DeviceSignIn) -> None:
        """Where a claimed sign-in stands after its poll; the claim is let go."""
        with self._db() as db:
            db.execute(update(Row).where(Row.key_hash == _hash(key)).values(
                interval=sign_in.interval, next_poll=sign_in.next_poll,
                outcome=sign_in.outcome, unreachable=sign_in.unreachable, polling_until=None,
            ))  # fmt: skip

    def forget(self, key: str) -> bool:
        """Deletes a sign-in; whether this call did (one process only, however many ask)."""
        if not _usable(key):
            return False
        with self._db() as db:
            return bool(db.execute(delete(Row).where(Row.key_hash == _hash(key))).rowcount)

    def _sign_in(self, row: Row) -> DeviceSignIn:
        sealed = bytes(row.sealed)
        secret = json.loads(self._box.decrypt(sealed[:12], sealed[12:], row.key_hash.encode()))
        return DeviceSignIn(
            row.peer_id, secret["device_code"], row.user_code, row.verification_uri, row.complete,
            row.expires, row.interval, secret["nonce"], next_poll=row.next_poll,
            outcome=row.outcome, unreachable=row.unreachable,
        )  # fmt: skip

    def _db(self) -> Any:
        from hameau.node.db import transaction

        return transaction(self.node.sessions)


def sign_ins_of(app: Any) -> DeviceSignIns:
    """The node's store of device sign-ins, made on first use."""
    found = getattr(app.state, "device_sign_ins", None)
    if found is None:
        found = app.state.device_sign_ins = DeviceSignIns(app.state.node)
    return found

"""A peer's health, as the calls to it found it, and the backoff that follows a failure.

The rules (pure, no I/O):

- a call that got a signed answer makes the peer "up": failures back to 0, no waiting;
- a call that failed makes it "refused" (it answered 401, or its certificate is not the one
  pinned: it no longer trusts this node, or it is not that node) or "unreachable" (anything else: no answer, no answer in time, an error, an answer not
  signed by its pinned key); each failure in a row doubles the wait before the next try:
  30 s, 1 min, 2 min … capped at 1 h;
- before its next try, a call to the peer fails at once, without the network, with a sentence
  saying when it will be tried again; an explicit check (the page's "Check now", `hameau hamlet
  ping`) always tries.

No timer runs: the state changes only when something calls the peer, so an idle node sleeps.
The outcome is written at once in a short transaction of its own (see `record`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, object_session

from hameau.errors import HameauError, Phrase
from hameau.hamlet.errors import PeerResting
from hameau.hamlet.models import HamletPeer
from hameau.node.db import transaction, utcnow
from hameau.node.peer import CERTIFICATE, STATUS, UNREACHABLE

if TYPE_CHECKING:
    from hameau.node.datadir import Node

FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
# A peer already up is written "seen" again at most this often: every answered call would
# otherwise cost a durable commit here (a terminal polling, a question to its AI).
SEEN_EVERY = timedelta(minutes=1)
UP, UNREACHABLE_STATE, REFUSED, UNKNOWN = "up", "unreachable", "refused", "unknown"


def wait_after(failures: int) -> timedelta:
    """How long to leave a peer alone after `failures` failed calls in a row (1, 2 …)."""
    if failures <= 0:
        return timedelta(0)
    return min(FIRST_WAIT * 2 ** min(failures - 1, 20), LONGEST_WAIT)


def state_after(error: HameauError) -> str:
    """What a failed call says of the peer: it refused this node, or it could not be used."""
    kind = getattr(error, "kind", None)
    if kind == CERTIFICATE or (kind == STATUS and getattr(error, "code", None) == 401):
        return REFUSED
    return UNREACHABLE_STATE


def _sentence(error: HameauError) -> str:
    """The error's sentence, untranslated, to be said again in the reader's language."""
    params = {
        name: value.message % value.params if isinstance(value, Phrase) else value
        for name, value in error.params.items()
    }
    try:
        text = json.dumps({"message": error.message, "params": params}, default=str)
    except (TypeError, ValueError):
        text = json.dumps({"message": str(error), "params": {}})
    return text if len(text) <= 600 else json.dumps({"message": str(error)[:500], "params": {}})


def succeeded(peer: HamletPeer, now: datetime) -> dict[str, Any]:
    """The peer's new values after a call it answered."""
    return {
        "state": UP, "failures": 0, "next_try_at": None, "last_tried_at": now,
        "last_seen_at": now, "last_error": None,
    }  # fmt: skip


def failed(peer: HamletPeer, error: HameauError, now: datetime) -> dict[str, Any]:
    """The peer's new values after a call that failed."""
    failures = (peer.failures or 0) + 1
    return {
        "state": state_after(error), "failures": failures,
        "next_try_at": now + wait_after(failures), "last_tried_at": now,
        "last_error": _sentence(error),
    }  # fmt: skip


def resting(peer: HamletPeer, now: datetime) -> PeerResting | None:
    """The error for a call made before the peer's next try, or None if it may be called."""
    if peer.next_try_at is None or peer.next_try_at <= now:
        return None
    return PeerResting(
        "%(peer)s did not work at its last try; it will be tried again at %(when)s UTC (or"
        " now, with “Check now”).",
        UNREACHABLE, peer=peer.name, when=peer.next_try_at.strftime("%H:%M:%S"),
    )  # fmt: skip


def _writing(db: Session) -> bool:
    """Whether this session's connection is inside a write (SQLite: it holds the lock that
    another connection's write would wait for; PostgreSQL: it may hold the peer's row)."""
    if not db.in_transaction():
        return False
    try:
        if db.get_bind().dialect.name == "postgresql":  # a transaction id: it has written
            with db.no_autoflush:  # (the peer's new values are not a write of the caller's)
                assigned = db.execute(text("SELECT pg_current_xact_id_if_assigned()")).scalar()
            return assigned is not None
        raw = db.connection().connection.dbapi_connection
    except SQLAlchemyError:
        return True
    return bool(getattr(raw, "in_transaction", True))


def record(node: Node, peer: HamletPeer, values: dict[str, Any]) -> None:
    """Writes the outcome on the peer object and, at once, in a transaction of its own (so a
    caller that rolls back keeps it), unless the session holding the peer is inside a write:
    then that session writes it when it commits (waiting on its lock would stall)."""
    for name, value in values.items():
        setattr(peer, name, value)
    holder = object_session(peer)
    if holder is not None and _writing(holder):
        return
    with transaction(node.sessions) as db:
        db.execute(update(HamletPeer).where(HamletPeer.id == peer.id).values(**values))


def _recently_up(peer: HamletPeer, now: datetime) -> bool:
    """Up, with nothing to clear, and seen less than SEEN_EVERY ago: nothing to write."""
    seen = peer.last_seen_at
    return peer.state == UP and not peer.failures and seen is not None and now - seen < SEEN_EVERY


def outcome(node: Node, peer: HamletPeer, error: HameauError | None) -> None:
    """Records a call's outcome: a success if `error` is None (the peer answered)."""
    if isinstance(error, PeerResting):
        return
    now = utcnow()
    if error is None and _recently_up(peer, now):
        return
    record(node, peer, succeeded(peer, now) if error is None else failed(peer, error, now))


def last_error(peer: HamletPeer, gettext: Callable[[str], str]) -> str | None:
    """The last failure's sentence in the reader's language (None if the last call worked)."""
    if not peer.last_error:
        return None
    try:
        found = json.loads(peer.last_error)
        text = gettext(found["message"])
        return text % found["params"] if found.get("params") else text
    except (ValueError, KeyError, TypeError):
        return peer.last_error

"""WebDAV locks kept in the node's database, for WsgiDAV's lock manager (`lock_storage`).

WsgiDAV decides who may lock and write; this only stores. The keys it is given are the
resources' `get_ref_url()`, which dav.py makes the real resource (the space's owner, then the
path), so `/mine/x` of one member never shares a lock with another's. Locks survive a restart
(a client keeps its token); a lock lives at most `MAX_TIMEOUT`, so a vanished client strands
a file for an hour at worst. A LOCK request that fails drops the locks it made (`undo_failed_locks`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import delete, select

from hameau.files.models import DavLock
from hameau.node.datadir import Node
from hameau.node.db import retrying

logger = logging.getLogger(__name__)
MAX_TIMEOUT = 3600.0  # seconds; RFC 4918 lets the server shorten what the client asks
FIELDS = ("root", "principal", "scope", "depth", "owner", "timeout", "expire", "token")

# Tokens created during the current LOCK request, so a failed request can take them back.
_made: ContextVar[list[str] | None] = ContextVar("hameau_dav_new_locks", default=None)


def _root(path: str) -> str:
    return "/" + path.strip("/")


def _capped(timeout: float | None) -> float:
    timeout = float(timeout or MAX_TIMEOUT)
    return MAX_TIMEOUT if timeout < 0 or timeout > MAX_TIMEOUT else timeout


class DatabaseLockStorage:
    """The storage interface of `wsgidav.lock_man.lock_storage.LockStorageDict`: every lock
    is written to the database, and a copy kept in memory answers the many reads (each write
    checks the path and its parents) without a query. One process serves a node on SQLite; on
    PostgreSQL several may (docs/scale.md), so each read asks the database, never a copy."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._guard = threading.Lock()
        self._locks: dict[str, dict[str, Any]] | None = None
        self._copied = node.engine.dialect.name == "sqlite"

    def __repr__(self) -> str:
        return "DatabaseLockStorage"

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def cleanup(self) -> None:
        pass  # expired locks are dropped when the next lock is made

    def clear(self) -> None:
        with self._guard:
            retrying(self.node.sessions, lambda session: session.execute(delete(DavLock)))
            self._locks = {}

    def _live(self) -> dict[str, dict[str, Any]]:
        """The locks in memory, read from the database the first time (call with the guard)."""
        if self._locks is None or not self._copied:

            def load(session: Any) -> dict[str, dict[str, Any]]:
                rows = session.scalars(select(DavLock).where(DavLock.expire >= time.time()))
                found = {}
                for row in rows:
                    found[row.token] = {field: getattr(row, field) for field in FIELDS}
                    found[row.token]["type"] = "write"
                return found

            self._locks = retrying(self.node.sessions, load)
        return self._locks

    def holds_any(self) -> bool:
        """Whether any lock is held at all (a small PUT then skips its folder's check)."""
        with self._guard:
            return bool(self._live())

    def get(self, token: str) -> dict[str, Any] | None:
        with self._guard:
            lock = self._live().get(token)
            return dict(lock) if lock and lock["expire"] >= time.time() else None

    def create(self, path: str, lock: dict[str, Any]) -> dict[str, Any]:
        from wsgidav.lock_man.lock_manager import generate_lock_token, validate_lock

        timeout = _capped(lock.get("timeout"))
        lock.update(root=_root(path), timeout=timeout, expire=time.time() + timeout)
        validate_lock(lock)
        lock["token"] = generate_lock_token()

        def work(session: Any) -> None:
            session.execute(delete(DavLock).where(DavLock.expire < time.time()))
            session.add(DavLock(**{field: lock[field] for field in FIELDS}))

        with self._guard:
            live = self._live()
            retrying(self.node.sessions, work)
            for token in [token for token, old in live.items() if old["expire"] < time.time()]:
                del live[token]
            live[lock["token"]] = dict(lock)
        made = _made.get()
        if made is not None:
            made.append(lock["token"])
        return lock

    def refresh(self, token: str, *, timeout: float) -> dict[str, Any]:
        timeout = _capped(timeout)
        expire = time.time() + timeout

        def work(session: Any) -> None:
            row = session.get(DavLock, token)
            if row is None:
                raise ValueError("no such lock")
            row.timeout, row.expire = timeout, expire

        with self._guard:
            retrying(self.node.sessions, work)
            lock = self._live()[token]
            lock.update(timeout=timeout, expire=expire)
            return dict(lock)

    def delete(self, token: str) -> bool:
        def work(session: Any) -> bool:
            return bool(session.execute(delete(DavLock).where(DavLock.token == token)).rowcount)

        with self._guard:
            held = self._live().get(token) is not None
            gone = retrying(self.node.sessions, work)
            self._live().pop(token, None)
            return held or gone

    def get_lock_list(
        self, path: str, *, include_root: bool, include_children: bool, token_only: bool
    ) -> list[Any]:
        root = _root(path)
        below = root.rstrip("/") + "/"
        now = time.time()
        with self._guard:
            found = [
                lock
                for lock in self._live().values()
                if lock["expire"] >= now
                and (
                    (include_root and lock["root"] == root)
                    or (include_children and lock["root"].startswith(below))
                )
            ]
            return [lock["token"] if token_only else dict(lock) for lock in found]


@contextmanager
def tracking_new_locks() -> Iterator[list[str]]:
    """Collect the tokens of the locks made inside the block (one request)."""
    made: list[str] = []
    marker = _made.set(made)
    try:
        yield made
    finally:
        _made.reset(marker)


def undo_failed_locks(
    app: Callable[..., Iterable[bytes]], storage: DatabaseLockStorage, undo_key: str
) -> Callable[..., Iterable[bytes]]:
    """A LOCK that does not succeed leaves nothing behind: neither the lock it may have
    recorded, nor the empty file it may have made (``environ[undo_key]``)."""

    def locking(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "LOCK":
            return app(environ, start_response)
        answered: list[str] = []

        def noting(status: str, headers: list[Any], *rest: Any) -> Any:
            answered.append(status)
            return start_response(status, headers, *rest)

        with tracking_new_locks() as made:
            body = list(app(environ, noting))  # a LOCK answer is small, and complete here
        if not answered or not answered[-1].startswith("2"):
            for token in made:
                storage.delete(token)
            for step in reversed(environ.get(undo_key, [])):
                try:
                    step()
                except Exception:  # the answer is already a failure; keep the first cause
                    logger.exception("Could not take back a failed LOCK's empty file")
        return body

    return locking

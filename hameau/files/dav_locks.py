"""WebDAV locks kept in the node's database, for WsgiDAV's lock manager (`lock_storage`).

WsgiDAV decides who may lock and write; this only stores. The keys it is given are the
resources' `get_ref_url()`, which dav.py makes the real resource (the space's owner, then the
path), so `/mine/x` of one member never shares a lock with another's. Locks survive a restart
(a client keeps its token); a lock lives at most `MAX_TIMEOUT`, so a vanished client strands
a file for an hour at worst. A LOCK request that fails drops the locks it made (`forget_new`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import delete, func, or_, select

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


def _as_dict(row: DavLock) -> dict[str, Any]:
    lock = {field: getattr(row, field) for field in FIELDS}
    lock["type"] = "write"
    lock["timeout"] = -1 if lock["timeout"] < 0 else lock["timeout"]
    return lock


class DatabaseLockStorage:
    """The storage interface of `wsgidav.lock_man.lock_storage.LockStorageDict`, in SQL."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def __repr__(self) -> str:
        return "DatabaseLockStorage"

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def cleanup(self) -> None:
        retrying(self.node.sessions, self._purge)

    def clear(self) -> None:
        retrying(self.node.sessions, lambda session: session.execute(delete(DavLock)))

    @staticmethod
    def _purge(session: Any) -> None:
        session.execute(delete(DavLock).where(DavLock.expire < time.time()))

    def get(self, token: str) -> dict[str, Any] | None:
        def work(session: Any) -> dict[str, Any] | None:
            row = session.get(DavLock, token)
            if row is None or row.expire < time.time():
                return None
            return _as_dict(row)

        return retrying(self.node.sessions, work)

    def create(self, path: str, lock: dict[str, Any]) -> dict[str, Any]:
        from wsgidav.lock_man.lock_manager import generate_lock_token, validate_lock

        timeout = float(lock.get("timeout") or MAX_TIMEOUT)
        timeout = MAX_TIMEOUT if timeout < 0 or timeout > MAX_TIMEOUT else timeout
        lock.update(root=_root(path), timeout=timeout, expire=time.time() + timeout)
        validate_lock(lock)
        lock["token"] = generate_lock_token()

        def work(session: Any) -> None:
            self._purge(session)
            session.add(DavLock(**{field: lock[field] for field in FIELDS}))

        retrying(self.node.sessions, work)
        made = _made.get()
        if made is not None:
            made.append(lock["token"])
        return lock

    def refresh(self, token: str, *, timeout: float) -> dict[str, Any]:
        timeout = MAX_TIMEOUT if timeout < 0 or timeout > MAX_TIMEOUT else float(timeout)

        def work(session: Any) -> dict[str, Any]:
            row = session.get(DavLock, token)
            if row is None:
                raise ValueError("no such lock")
            row.timeout, row.expire = timeout, time.time() + timeout
            return _as_dict(row)

        return retrying(self.node.sessions, work)

    def delete(self, token: str) -> bool:
        def work(session: Any) -> bool:
            return bool(session.execute(delete(DavLock).where(DavLock.token == token)).rowcount)

        return retrying(self.node.sessions, work)

    def get_lock_list(
        self, path: str, *, include_root: bool, include_children: bool, token_only: bool
    ) -> list[Any]:
        root = _root(path)
        below = root.rstrip("/") + "/"
        wanted = []
        if include_root:
            wanted.append(DavLock.root == root)
        if include_children:
            wanted.append(func.substr(DavLock.root, 1, len(below)) == below)

        def work(session: Any) -> list[Any]:
            query = select(DavLock).where(or_(*wanted), DavLock.expire >= time.time())
            return [row.token if token_only else _as_dict(row) for row in session.scalars(query)]

        return retrying(self.node.sessions, work)


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

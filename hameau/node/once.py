"""Work that must happen once across the node's processes (the scrub, backups, the end of
the rollback windows, compute's driver, the sweep at start): on PostgreSQL, several
`hameau serve` processes share one database and each arms its own timers, so each timer's work
runs under a session-level advisory lock keyed by the job's name, taken with
`pg_try_advisory_lock` on a connection of its own. A process that finds it held skips this
turn (its timer rearms as after a run); a holder that dies (SIGKILL, power cut) loses its
connection, so PostgreSQL frees the lock and another process's next turn runs the job. On
SQLite one process serves a data dir: the work runs as it always did.

No wake-up is added: a lock is tried when a timer fires, never polled."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, text

from hameau.node.datadir import Node

log = logging.getLogger("hameau.node")
T = TypeVar("T")


class Elsewhere(Exception):
    """Another process of this node is doing the job right now."""


def key(job: str) -> int:
    """The job's advisory lock key: a signed 64-bit number from its name."""
    digest = hashlib.sha256(f"hameau:{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _connect(node: Node) -> Connection:
    # Autocommit: the lock belongs to the session, so no transaction stays open meanwhile.
    return node.engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _try(connection: Connection, sql: str, job: str) -> bool:
    return bool(connection.execute(text(sql), {"k": key(job)}).scalar())


def _unlock(connection: Connection, job: str) -> None:
    try:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key(job)})
    except Exception:  # the connection is gone, and PostgreSQL released the lock with it
        connection.invalidate()


@contextmanager
def once(node: Node, job: str) -> Iterator[bool]:
    """True: this process does `job` now (always on SQLite); False: another process of the
    node holds it, so this one does nothing this turn."""
    if node.layout.on_sqlite:
        yield True
        return
    connection = _connect(node)
    try:
        held = _try(connection, "SELECT pg_try_advisory_lock(:k)", job)
        if not held:
            log.info("%s: another process of this node is running it; not this one.", job)
        try:
            yield held
        finally:
            if held:
                _unlock(connection, job)
    finally:
        connection.close()


def run(node: Node, job: str, work: Callable[..., T], *args: object) -> T:
    """`work(*args)` under the job's lock; raises `Elsewhere` when another process holds it."""
    with once(node, job) as mine:
        if not mine:
            raise Elsewhere(job)
        return work(*args)


def if_free(node: Node, job: str, work: Callable[..., T], *args: object) -> T | None:
    """`work(*args)` under the job's lock; None (nothing done) when another process holds it."""
    with once(node, job) as mine:
        return work(*args) if mine else None


def hold(node: Node, job: str) -> Connection | None:
    """Takes `job`'s lock, waiting for it, and keeps it on a connection of its own until
    `let_go` (or until this process dies); None on SQLite. For work that lasts as long as a
    thread of this process does it (a compute run done for another home): others tell it
    is still being done by failing to take the lock."""
    if node.layout.on_sqlite:
        return None
    connection = _connect(node)
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key(job)})
    return connection


def let_go(connection: Connection | None, job: str) -> None:
    if connection is not None:
        try:
            _unlock(connection, job)
        finally:
            connection.close()


class Serving:
    """A served process's share of the node: held (shared) while it serves, so that the
    sweep at start (temp files removed, unreferenced content set aside) runs only in a
    process that starts alone, never under another process's uploads in flight."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.connection: Connection | None = None
        self.alone = False

    def start(self) -> bool:
        """Whether this process is the only one serving (then it may sweep)."""
        if self.node.layout.on_sqlite:
            return True
        self.connection = _connect(self.node)
        self.alone = _try(self.connection, "SELECT pg_try_advisory_lock(:k)", "serving")
        # Shared from now on (taken before the exclusive one is let go: no gap between); a
        # process sweeping as this one starts is waited for.
        self.connection.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": key("serving")})
        return self.alone

    def swept(self) -> None:
        """The sweep is done: other processes may start beside this one."""
        if self.connection is not None and self.alone:
            _unlock(self.connection, "serving")
            self.alone = False

    def stop(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

"""The database engine (SQLite: WAL, synchronous=FULL, foreign keys on; or PostgreSQL through
psycopg 3, imported only then) and the column type of timestamps: SQLAlchemy Core only, so the
short commands that read a table through Core (`node/reading.py`) open the database exactly as
the node does, without the ORM."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored as UTC and always come back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# FULL: the WAL is fsynced at every commit, so an acknowledged write survives a power cut
# (NORMAL only survives the process dying). bench/files.py measures what it costs.
SYNCHRONOUS = ("FULL", "NORMAL")


def _sqlite_pragmas(synchronous: str) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return apply


class DriverMissing(RuntimeError):
    """The `database_url` setting names PostgreSQL, and psycopg is not installed."""


def _check_driver() -> None:
    import importlib.util

    if importlib.util.find_spec("psycopg") is None:
        raise DriverMissing(
            "The database_url setting names PostgreSQL but psycopg is not installed:"
            " pip install 'hameau[postgres]'."
        )


def _begin_before_savepoint(connection: Any, _name: str) -> None:
    """pysqlite begins a transaction only before a write, not before a SAVEPOINT: SQLite then
    makes the savepoint the transaction itself, and releasing it commits, so what a nested
    block wrote would outlive a rollback of the whole. Begin it first."""
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


def insert_for(dialect: str) -> Any:
    """The INSERT of the dialect in use, with its ON CONFLICT clauses (an upsert made by
    whichever process writes first); only that dialect's module is imported."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as on_postgresql

        return on_postgresql
    from sqlalchemy.dialects.sqlite import insert as on_sqlite

    return on_sqlite


def make_engine(url: str, synchronous: str = "FULL", outages: Any = None) -> Engine:
    """The engine of a node's database. ``synchronous`` is SQLite's (PostgreSQL's commits
    are durable on return, its own group commit shares the flushes). On PostgreSQL, a lost
    server is `StoreUnavailable` (503), noted in ``outages`` (`node/outages.py`)."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
    if url.startswith("postgresql"):
        _check_driver()
        # READ COMMITTED (PostgreSQL's default): a counter's UPDATE waits for the row's lock
        # and sees the committed value, as SQLite's single writer would have it.
        # The pool pings a connection before lending it: after the server restarted, the
        # node finds it again by itself (a round trip per checkout: 0.1-0.25 ms here).
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        from hameau.node.outages import Outages, watch_engine

        watch_engine(engine, outages if outages is not None else Outages())
        return engine
    engine = create_engine(url, pool_pre_ping=False)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(synchronous))
        event.listen(engine, "savepoint", _begin_before_savepoint)
    return engine

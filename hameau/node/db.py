"""The node's database: SQLAlchemy 2 on SQLite by default (WAL, synchronous=FULL, foreign keys
on)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from hameau.node.group import GroupSync, fsync_file

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


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


def _begin_before_savepoint(connection: Any, _name: str) -> None:
    """pysqlite begins a transaction only before a write, not before a SAVEPOINT: SQLite then
    makes the savepoint the transaction itself, and releasing it commits, so what a nested
    block wrote would outlive a rollback of the whole. Begin it first."""
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


def make_engine(url: str, synchronous: str = "FULL") -> Engine:
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
    engine = create_engine(url, pool_pre_ping=False)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(synchronous))
        event.listen(engine, "savepoint", _begin_before_savepoint)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session


def retrying(factory: sessionmaker[Session], work: Callable[[Session], T], attempts: int = 8) -> T:
    """Run ``work`` in a transaction, again if SQLite said "database is locked".

    For worker threads (WebDAV): a transaction that read, then writes after another one
    committed, is refused at once by SQLite in WAL mode (its busy timeout does not apply);
    starting it again is the documented remedy. ``work`` must have no effect outside the
    database.
    """
    for attempt in range(attempts):
        try:
            with transaction(factory) as session:
                return work(session)
        except OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


class GroupCommit:
    """Transactions committed without their own fsync, made durable together: the database's
    writes through `run` are acknowledged only once the log holding them is on the disk."""

    def __init__(self, database: Path, url: str) -> None:
        self.engine: Engine = make_engine(url, synchronous="NORMAL")
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        # SQLite appends committed transactions to this file; one fsync of it covers them all.
        wal = database.with_name(database.name + "-wal")
        self.log = GroupSync(lambda _items: fsync_file(wal))

    def run(self, work: Callable[[Session], T]) -> T:
        """``work`` in a transaction (again if SQLite said "locked"), durable on return."""
        result = retrying(self.sessions, work)
        self.log.sync()
        return result

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success, durable once the block is left."""
        with self.sessions() as session, session.begin():
            yield session
        self.log.sync()

    def close(self) -> None:
        self.engine.dispose()

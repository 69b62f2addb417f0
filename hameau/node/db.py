"""The node's database: SQLAlchemy 2 on SQLite by default (WAL, synchronous=FULL, foreign keys
on)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, MetaData
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from hameau.node.engine import SYNCHRONOUS, UTCDateTime, make_engine, utcnow
from hameau.node.group import GroupSync, fsync_file

# The engine and the timestamp type live in node/engine.py (Core only, for the short commands).
__all__ = [
    "NAMING", "SYNCHRONOUS", "Base", "GroupCommit", "UTCDateTime", "make_engine",
    "make_sessionmaker", "retrying", "transaction", "utcnow",
]  # fmt: skip

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

"""The node's database: SQLAlchemy 2 on SQLite by default (WAL, synchronous=FULL, foreign keys
on), or on PostgreSQL (the `database_url` setting, docs/scale.md)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, MetaData
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from hameau.node.direct import DirectQueue, DirectWrite, checked, written
from hameau.node.engine import SYNCHRONOUS, UTCDateTime, make_engine, utcnow
from hameau.node.group import GroupSync, fsync_file

if TYPE_CHECKING:
    from hameau.node.blobs import BlobStore, BlobWriter

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


def write_lock(session: Session) -> None:
    """On SQLite, take the database's one write lock now, before reading what a write will
    replace or compare: what the transaction reads next is then what it writes over.
    pysqlite begins a transaction only at its first write, and each read before it sees the
    database as it is at that read's moment: a write committed in between would be
    overwritten unseen. BEGIN IMMEDIATE closes that gap. On PostgreSQL nothing is taken
    here: the caller reads the rows it replaces FOR UPDATE (rows first, as every writer
    locks them, then the files journal's counter: one order, no deadlock)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.dbapi_connection
    if driver is not None and not driver.in_transaction:
        driver.execute("BEGIN IMMEDIATE")


# What a database says when a transaction may simply be run again: SQLite's "database is
# locked"; PostgreSQL's serialization failure (40001) and deadlock (40P01).
RETRYABLE = ("locked", "could not serialize access", "deadlock detected")


def is_retryable(error: OperationalError) -> bool:
    return any(clue in str(error) for clue in RETRYABLE)


def retrying(factory: sessionmaker[Session], work: Callable[[Session], T], attempts: int = 8) -> T:
    """Run ``work`` in a transaction, again if SQLite said "database is locked" (or
    PostgreSQL that the transaction conflicted with another).

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
            if not is_retryable(error) or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass
class _Batched:
    """One write waiting for the next batch: its content and its transaction's work (a
    session's, or a `DirectWrite`'s statements)."""

    blobs: BlobStore
    writer: BlobWriter
    work: Callable[[Session], Any] | None
    direct: DirectWrite | None = None
    result: Any = None
    error: BaseException | None = None


class GroupCommit:
    """Transactions committed without their own fsync, made durable together: the database's
    writes through `run` are acknowledged only once the log holding them is on the disk."""

    def __init__(self, database: Path, url: str, outages: Any = None) -> None:
        self.engine: Engine = make_engine(url, synchronous="NORMAL", outages=outages)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        # SQLite appends committed transactions to this file; one fsync of it covers them all.
        # PostgreSQL's commits are durable on return (its server groups their flushes itself).
        wal = database.with_name(database.name + "-wal")
        on_sqlite = self.engine.dialect.name == "sqlite"
        self.log = GroupSync(lambda _items: fsync_file(wal) if on_sqlite else None)
        self.batch = GroupSync(self._write_batch)  # content and rows, for many small writes
        self.queue = DirectQueue(self._run_queued)  # the small WebDAV PUTs' writer thread

    def run_with_content(
        self, blobs: BlobStore, writer: BlobWriter, work: Callable[[Session], T]
    ) -> T:
        """``work`` with the content of ``writer`` (committed with ``later``): both made
        durable in one batch with the writes waiting at the moment, durable on return.

        One caller (the first to wait) does it for all: the batch's content synced and put
        in place first, then one transaction for every write's work (each in a savepoint: a
        refused write leaves the others), then one fsync of the log. So no row ever points
        to content that is not on the disk, and a batch costs three flushes, not three per
        write. A write alone pays its own at once: nothing waits for company."""
        job = _Batched(blobs, writer, work)
        self.batch.sync(job)
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[no-any-return]

    @property
    def takes_direct(self) -> bool:
        """Whether `run_direct` may be used: its statements are SQLite's."""
        return self.engine.dialect.name == "sqlite"

    def run_direct(self, blobs: BlobStore, write: DirectWrite) -> bool:
        """``write`` in the batch of the moment, as `run_with_content` does for a session's
        work: True once its content and its rows are durable, False when its `check` said no
        (nothing written). Its own failure is raised; nothing of it is then recorded."""
        job = _Batched(blobs, write.writer, None, write)
        self.batch.sync(job)
        if job.error is not None:
            raise job.error
        return bool(job.result)

    def _run_queued(self, blobs: BlobStore, writes: list[DirectWrite]) -> list[_Batched]:
        """The writes the queue's thread took at once, in the batch of the moment."""
        jobs = [_Batched(blobs, write.writer, None, write) for write in writes]
        self.batch.sync(jobs)
        return jobs

    def _write_batch(self, items: list[Any]) -> None:
        """Run by one caller for the batch (see `run_with_content`); a failure before the
        transaction fails them all, a write's own failure only that write."""
        jobs: list[_Batched] = []
        for item in items:  # one write, or the queue's writes taken at once
            jobs.extend(item if isinstance(item, list) else [item])
        direct = [job for job in jobs if job.direct is not None]
        shared: dict[str, Any] = {}
        if direct:
            checked(self.engine, direct, shared)
        kept = [job for job in jobs if job.direct is None or job.result]
        if kept:
            kept[0].blobs.settle_small([job.writer for job in kept])
        through_orm = [job for job in kept if job.direct is None]
        if through_orm:
            retrying(self.sessions, lambda session: self._each(session, through_orm))
        if len(through_orm) < len(kept):
            written(self.engine, [job for job in kept if job.direct is not None], shared)
        self.log.sync()

    @staticmethod
    def _each(session: Session, jobs: list[_Batched]) -> None:
        for job in jobs:
            assert job.work is not None
            job.result, job.error = None, None  # a retried transaction runs them all again
            try:
                with session.begin_nested():
                    job.result = job.work(session)
            except OperationalError as error:
                if is_retryable(error):
                    raise  # the whole transaction again (`retrying`)
                job.error = error
            except Exception as error:  # this write refused (quota, conflict …): not the others
                job.error = error

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
        self.queue.stop()
        self.engine.dispose()

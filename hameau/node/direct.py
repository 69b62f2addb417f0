"""Small writes on SQLite's own connection, no ORM session: the protocol a domain implements
(`DirectWrite`, `files/small_put.py` for the many small WebDAV PUTs of a photo archive), the
statements of a batch of them (`checked`, then `written`, called by `db.GroupCommit`), and
the one thread that takes them from the event loop (`DirectQueue`): a PUT costs no worker
thread of its own, and the event loop is woken once its answer is ready.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

log = logging.getLogger("hameau.group")

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from hameau.node.blobs import BlobStore, BlobWriter


class DirectWrite(Protocol):
    """A small write whose statements run on SQLite's own connection, no ORM session (the
    many small WebDAV PUTs of a photo archive, `files/small_put.py`). In its batch, `check`
    runs first in a read transaction for the whole batch (who, where, room: False, nothing
    is written and its content is not put in place), then, once the content of every write
    accepted is on the disk, `write` in a savepoint of the batch's one write transaction.
    ``batch``: what the batch's writes share (bytes accepted so far, a name read once)."""

    writer: BlobWriter

    def check(self, cursor: Any, batch: dict[str, Any]) -> bool: ...

    def write(self, cursor: Any, batch: dict[str, Any]) -> None: ...


class Job(Protocol):
    """A write of a batch as `db.GroupCommit` holds it: a direct write, and its outcome."""

    direct: DirectWrite | None
    result: Any
    error: BaseException | None


Prepare = Callable[[], DirectWrite | None]  # in the thread: the write (its content hashed)
# Its outcome, handed to its caller (an event loop's future): must not raise.
Finish = Callable[[DirectWrite | None, bool, BaseException | None], None]


class DirectQueue:
    """One thread, started by the first write: it takes every write queued at the moment,
    prepares each (its content into a temp file), runs them as one batch (``run``), and
    hands each its outcome. It waits on its queue in between: no wake-up while idle."""

    def __init__(self, run: Callable[[BlobStore, list[DirectWrite]], Sequence[Job]]) -> None:
        self._run = run
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def put(self, blobs: BlobStore, prepare: Prepare, finish: Finish) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._starting:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._serve, name="direct-writes", daemon=True
                    )
                    self._thread.start()
        self._queue.put((blobs, prepare, finish))

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)

    def _serve(self) -> None:
        while True:
            taken = [self._queue.get()]
            while True:
                try:
                    taken.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._take([item for item in taken if item is not None])
            except Exception:  # a bug: logged, and the thread goes on serving the others
                log.exception("a batch of direct writes failed")
            if None in taken:  # stopped (the node closes): what came before it has run
                return

    def _take(self, taken: list[Any]) -> None:
        """Prepare what was taken, run it as one batch, give each its outcome."""
        ready: list[tuple[DirectWrite, Finish]] = []
        for _blobs, prepare, finish in taken:
            try:
                write = prepare()
            except Exception as error:  # this write's (a full disk): the others go on
                _tell(finish, None, False, error)
                continue
            if write is None:
                _tell(finish, None, False, None)
            else:
                ready.append((write, finish))
        if not ready:
            return
        try:
            jobs = self._run(taken[0][0], [write for write, _ in ready])
        except Exception as error:  # the batch's content or log could not be synced
            for write, finish in ready:
                _tell(finish, write, False, error)
            return
        for job, (write, finish) in zip(jobs, ready, strict=True):
            _tell(finish, write, bool(job.result) and job.error is None, job.error)


def _tell(finish: Finish, write: DirectWrite | None, ok: bool, error: BaseException | None) -> None:
    """Hand a write its outcome; a caller that cannot take it (its loop closed) is logged and
    the others still hear of theirs."""
    try:
        finish(write, ok, error)
    except Exception:
        log.exception("the outcome of a direct write could not be handed over")


def checked(engine: Engine, jobs: Sequence[Job], shared: dict[str, Any]) -> None:
    """Each direct write's `check`, in one read transaction for the batch (on the driver's
    connection: pysqlite's own BEGIN is bypassed, as `_begin_before_savepoint` does)."""
    raw = engine.raw_connection()
    driver: Any = raw.driver_connection
    try:
        driver.execute("BEGIN")
        cursor = driver.cursor()
        for job in jobs:
            assert job.direct is not None
            try:
                job.result = job.direct.check(cursor, shared)
            except Exception as error:  # this write only; the others go on
                job.result, job.error = False, error
        driver.execute("COMMIT")  # reads, and an app password's last use at most
    finally:
        raw.close()  # back to the pool, rolled back if the commit was not reached


def written(engine: Engine, jobs: Sequence[Job], shared: dict[str, Any]) -> None:
    """The direct writes' statements in one write transaction, each in a savepoint (a
    refused write leaves the others), again from the start if SQLite says "locked". A
    failure of the whole is each direct write's, not the batch's others (already committed)."""
    for attempt in range(8):
        raw = engine.raw_connection()
        driver: Any = raw.driver_connection
        try:
            driver.execute("BEGIN IMMEDIATE")  # the write lock now: no snapshot to go stale
            _each_direct(driver.cursor(), jobs, shared)
            driver.execute("COMMIT")
            return
        except Exception as error:  # sqlite3's own errors: "database is locked", a full disk
            if driver.in_transaction:
                driver.execute("ROLLBACK")
            if "locked" not in str(error) or attempt == 7:
                for job in jobs:
                    job.result, job.error = False, error
                return
        finally:
            raw.close()
        time.sleep(0.01 * (attempt + 1))


def _each_direct(cursor: Any, jobs: Sequence[Job], shared: dict[str, Any]) -> None:
    for job in jobs:
        assert job.direct is not None
        job.result, job.error = True, None  # a retried transaction runs them all again
        cursor.execute("SAVEPOINT direct_write")
        try:
            job.direct.write(cursor, shared)
        except Exception as error:  # this write refused: not the others
            if "locked" in str(error):
                raise  # the whole transaction again
            cursor.execute("ROLLBACK TO direct_write")
            job.result, job.error = False, error
        cursor.execute("RELEASE direct_write")

"""Group commit: writes that arrive together share one flush to the disk.

Each write makes its change (a committed SQLite transaction with `synchronous=NORMAL`: in the
write-ahead log, not yet on the disk, see `db.GroupCommit`; a blob written, not yet synced,
see `blobs.local`) and then waits in `GroupSync.sync` until a flush that began after its
change has ended. The first waiter becomes the leader and runs the flush
(one fsync of the log) for everyone waiting; writes that arrive during a flush are taken by
the next one. So eight writes at once pay one or two fsyncs instead of eight in a row, and
none is acknowledged before its data is on the disk. The database's write lock is not held
during the fsync, so the next writes go on meanwhile.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


class GroupSync:
    """Runs ``flush`` on behalf of every caller of `sync` waiting at the time (one leader
    flushes the items they gave, the others wait for it); a failed flush raises in each
    caller it covered."""

    def __init__(self, flush: Callable[[list[Any]], None]) -> None:
        self._flush = flush
        self._changed = threading.Condition()
        self._items: list[Any] = []  # given by the callers waiting for the next flush
        self._asked = 0  # tickets handed out: one per change waiting to be durable
        self._done = 0  # every ticket up to this one is durable
        self._failed: list[tuple[int, int, BaseException]] = []  # recent failed flushes
        self._flushing = False
        self.flushes = 0  # how many flushes ran (a test sees the grouping)

    def sync(self, item: Any = None) -> None:
        """Return once a flush that began after this call (and had ``item``) has ended."""
        with self._changed:
            self._asked += 1
            ticket = self._asked
            if item is not None:
                self._items.append(item)
            while self._done < ticket and self._flushing:
                self._changed.wait()
            if self._done >= ticket:
                self._raise_if_failed(ticket)
                return
            self._flushing = True
            first, last = self._done + 1, self._asked
            items, self._items = self._items, []
        error: BaseException | None = None
        try:
            self._flush(items)
        except BaseException as failure:  # given to every write it covered
            error = failure
        with self._changed:
            self.flushes += 1
            if error is not None:
                self._failed = [*self._failed[-15:], (first, last, error)]
            self._done, self._flushing = last, False
            self._changed.notify_all()
        if error is not None:
            raise error

    def _raise_if_failed(self, ticket: int) -> None:
        """Called with the lock held: the error of the flush that covered ``ticket``, if any."""
        for first, last, error in self._failed:
            if first <= ticket <= last:
                raise error


def fsync_file(path: Path) -> None:
    """fsync a file that may not exist (then there is nothing to make durable)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

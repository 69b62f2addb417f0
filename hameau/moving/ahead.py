"""Writers for a stream's records, opened ahead of their bytes in a helper thread.

A move's stream carries thousands of small contents, each written into a temp file of its
own (hameau/node/blobs/local.py). Made one by one as each record's bytes arrive, the temp
files (about a fifth of the receiver's worker time, docs/benchmarks.md, "Moving home, round
6") wait in line with the hashing and the writes. Here one helper thread makes them, in the
index's order, at most `AHEAD` records before the bytes, while the worker hashes and writes
the records before them: the two overlap on a second core. Nothing changes for what is
kept: a writer is a temp file until its content is verified and settled, and the temp files
of a stream cut short are dropped (`close`), or by the node's start (`clear_temp`).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from hameau.node.blobs import BlobStore, BlobWriter

AHEAD = 64  # writers opened before their record's bytes, at most
HELD = "held"  # the store holds this content already: its bytes are skipped
GO_ON = "go on"  # the record goes on from bytes kept earlier: its writer is made in order


class WritersAhead:
    """For each of ``items`` ([sha256, offset, total], in order), what `take` gives: a new
    writer, `HELD`, or `GO_ON`."""

    def __init__(self, store: BlobStore, items: list[list[Any]]) -> None:
        self.store, self.items = store, items
        self._ready: queue.Queue[Any] = queue.Queue(maxsize=AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._make, name="move-ahead", daemon=True)
        self._thread.start()

    def _make(self) -> None:
        try:
            for digest, offset, _total in self.items:
                if self._stop.is_set():
                    return
                self._ready.put(self._one(digest, offset))
        except BaseException as error:  # handed to the taker, which raises it
            self._ready.put(error)

    def _one(self, digest: str, offset: int) -> BlobWriter | str:
        if self.store.exists(digest):
            return HELD
        return GO_ON if offset else self.store.writer(settled=True)

    def take(self) -> BlobWriter | str:
        """The next record's writer (or `HELD`, `GO_ON`), waiting for it if need be."""
        made = self._ready.get()
        if isinstance(made, BaseException):
            raise made
        return made  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop making writers; those made and not taken are dropped (their temp files)."""
        self._stop.set()
        self._drop_ready()  # room for the one put the helper may still make before it stops
        self._thread.join()
        self._drop_ready()

    def _drop_ready(self) -> None:
        while True:
            try:
                made = self._ready.get_nowait()
            except queue.Empty:
                return
            if not isinstance(made, str | BaseException):
                made.abort()

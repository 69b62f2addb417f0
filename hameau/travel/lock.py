"""One sync at a time on a satellite, and no content sweep at start while one runs.

The lock is an advisory `flock` on `sync.lock` in the satellite's data dir: the kernel
drops it when the holder dies, so a killed sync never leaves it stuck.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hameau.errors import Conflict

LOCK_FILE = "sync.lock"


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """One sync at a time on a satellite (and no content sweep while one runs)."""
    handle = (root / LOCK_FILE).open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise Conflict(
            "Another sync is running on this satellite; wait for it to finish."
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def sync_running(root: Path) -> bool:
    try:
        with locked(root):
            return False
    except Conflict:
        return True

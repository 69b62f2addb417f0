"""A few megabytes kept aside next to the database, so a full disk can still be freed.

Deleting for good writes to the database too (SQLite appends to its write-ahead log): on a
disk with no byte left, even emptying the trash would fail. The reserve is taken at start
when there is room, given back when a purge meets a nearly full disk, and taken again once
there is room; never taken when it would eat the last free space.
"""

from __future__ import annotations

import os
from pathlib import Path

NAME = "space-reserve"
SIZE = 8 << 20
ROOM = 2 * SIZE  # taken only with this much free (so as much stays), given back under it


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def keep(folder: Path) -> bool:
    """Take the reserve in ``folder`` if missing and the disk has room; True if it is there."""
    path = folder / NAME
    if path.exists():
        return True
    try:
        if free_bytes(folder) < ROOM:
            return False
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return False
    try:
        os.posix_fallocate(descriptor, 0, SIZE)  # blocks allocated, no data written
    except OSError:
        os.close(descriptor)
        path.unlink(missing_ok=True)
        return False
    os.close(descriptor)
    return True


def release_if_low(folder: Path) -> bool:
    """Give the reserve back if the disk is nearly full; True if it was."""
    path = folder / NAME
    try:
        if not path.exists() or free_bytes(folder) >= ROOM:
            return False
        path.unlink()
    except OSError:
        return False
    return True

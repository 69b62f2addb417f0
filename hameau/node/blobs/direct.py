"""Large pieces of an upload written straight to the disk (O_DIRECT), past the page cache.

Written through the page cache, each byte of an upload is copied once more by the kernel
(1.2-1.7 s of system time per GiB here, more than SHA-256's 0.75 s of user time: see
docs/benchmarks.md, "The 1 GiB upload, round 8"), and the fsync before the answer then
writes it all out. A piece that is aligned (its address, its length and its place in the
file on `ALIGN` bytes) and at least `SMALLEST` long is instead written by the disk from the
caller's buffer. The durability is unchanged: the writer still fsyncs the file (the blocks'
allocation, the device's cache) and its folder before anything is recorded. Pieces that are
not aligned, small ones, and every piece on a filesystem without O_DIRECT (tmpfs on old
kernels, some network filesystems) go through the page cache as before.
"""

from __future__ import annotations

import ctypes
import errno
import os

ALIGN = 4096  # the largest logical block size a disk here uses; memory pages too
SMALLEST = 256 << 10  # smaller pieces are cheaper through the page cache
_DIRECT = getattr(os, "O_DIRECT", 0)


def _address(piece: memoryview) -> int:
    """Where ``piece``'s bytes start in memory."""
    return ctypes.addressof(ctypes.c_char.from_buffer(piece)) if not piece.readonly else -1


def takes(piece: bytes | memoryview, offset: int) -> bool:
    """Whether ``piece``, to be written at ``offset``, can be written past the page cache."""
    if not _DIRECT or len(piece) < SMALLEST or len(piece) % ALIGN or offset % ALIGN:
        return False
    if not isinstance(piece, memoryview) or not piece.contiguous:
        return False  # a `bytes` is never known to be aligned
    return _address(piece) % ALIGN == 0


class DirectWrites:
    """One upload's pieces written past the page cache, into the file at ``path`` (which its
    writer holds open too). `write` says how much it wrote: 0 when a piece must take the
    usual way."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.usable = bool(_DIRECT)
        self.used = False  # once true, the writer's file object's position is stale

    def write(self, piece: memoryview, offset: int) -> int:
        """Bytes of ``piece`` written at ``offset`` past the page cache: all of it, part of it
        (a disk that filled up: the rest takes the usual way and meets the same error), or
        none (0: not possible here; nothing was written)."""
        if not self.usable:
            return 0
        try:
            descriptor = os.open(self.path, os.O_WRONLY | _DIRECT)
        except OSError:
            self.usable = False
            return 0
        try:
            return os.pwrite(descriptor, piece, offset)
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise  # a full disk, an I/O error: the writer's caller decides
            self.usable = False  # this filesystem refuses it after all
            return 0
        finally:
            os.close(descriptor)
            self.used = True


def write_at(descriptor: int, piece: bytes | memoryview, offset: int) -> None:
    """All of ``piece`` at ``offset`` through the page cache (after direct writes, where the
    writer's buffered file object no longer knows its place)."""
    view = memoryview(piece)
    while view:
        written = os.pwrite(descriptor, view, offset)
        view, offset = view[written:], offset + written

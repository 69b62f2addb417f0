"""Large content written straight to the disk (O_DIRECT), past the page cache.

Written through the page cache, each byte of an upload is copied once more by the kernel
(1.2-1.7 s of system time per GiB here, more than SHA-256's 0.75 s of user time: see
docs/benchmarks.md, "The 1 GiB upload, round 8"), the fsync before the answer then writes
it all out, and on a small machine a large upload pushes the database's and the program's
pages out of memory. Once a content passes `STAGE_FROM`, its writer (`DirectWrites`) writes
it by whole aligned pieces (address, length and place in the file on `ALIGN` bytes) that the
disk takes from memory: the caller's own buffer when it is aligned (the socket's ring,
node/socket_body.py), else a staging buffer the pieces are copied into. The durability is
unchanged: the writer still fsyncs the file (the blocks' allocation, the device's cache) and
its folder before anything is recorded. The start of a content, its last partial block, and
everything on a filesystem that refuses O_DIRECT go through the page cache as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os

ALIGN = 4096  # the largest logical block size a disk here uses; memory pages too
SMALLEST = 256 << 10  # smaller pieces are cheaper through the page cache
STAGE_FROM = 1 << 20  # a content this large goes past the page cache from here on
STAGE = 1 << 20  # the staging buffer: what is written at once when the caller's is unaligned
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
    """One content's bytes past `STAGE_FROM` written past the page cache, into the file at
    ``path`` (which its writer holds open too, as ``descriptor``). `start` at an aligned
    place, then `add` each piece in order, then `finish`; or `release` to drop it all."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.usable = bool(_DIRECT)
        self._stage: mmap.mmap | None = None
        self._view = memoryview(b"")
        self._at = 0  # where in the file the staging buffer's first byte goes
        self._held = 0  # bytes in the staging buffer

    @property
    def staging(self) -> bool:
        return self._stage is not None

    def start(self, offset: int) -> None:
        assert offset % ALIGN == 0 and self._stage is None
        self._stage = mmap.mmap(-1, STAGE)
        self._view, self._at, self._held = memoryview(self._stage), offset, 0

    def add(self, piece: bytes | memoryview, descriptor: int) -> None:
        """``piece``, the content's next bytes: written out by whole aligned pieces (straight
        from ``piece`` when it is aligned, else through the staging buffer). Every view made
        of ``piece`` is let go on the way out, an error included: a buffer the caller reuses
        (the socket's ring, an mmap) can then be closed."""
        with memoryview(piece) as given, given.cast("B") as view:
            at, size = 0, len(view)
            while at < size:
                if not self._held and self._straight(view, at, descriptor):
                    at = size - (size - at) % ALIGN
                    continue
                taken = min(STAGE - self._held, size - at)
                with view[at : at + taken] as part:
                    self._view[self._held : self._held + taken] = part
                self._held, at = self._held + taken, at + taken
                if self._held == STAGE:
                    self._out(self._view, descriptor)
                    self._at, self._held = self._at + STAGE, 0

    def _straight(self, view: memoryview, at: int, descriptor: int) -> bool:
        """Whether ``view``'s whole blocks from ``at`` were written from ``view`` itself."""
        whole = (len(view) - at) - (len(view) - at) % ALIGN
        with view[at : at + whole] as part:
            if not takes(part, self._at):
                return False
            self._out(part, descriptor)
        self._at += whole
        return True

    def finish(self, descriptor: int) -> None:
        """What the staging buffer holds into the file: its whole blocks past the page
        cache, the last partial one through it; then the buffer is let go."""
        if self._stage is None:
            return
        whole = self._held - self._held % ALIGN
        if whole:
            with self._view[:whole] as part:
                self._out(part, descriptor)
        if self._held > whole:
            with self._view[whole : self._held] as part:
                write_at(descriptor, part, self._at + whole)
        self._at, self._held = self._at + self._held, 0
        self.release()

    def release(self) -> None:
        if self._stage is not None:
            stage, view = self._stage, self._view
            self._stage, self._view = None, memoryview(b"")
            view.release()
            with contextlib.suppress(BufferError):  # a view of it still held elsewhere:
                stage.close()  # the buffer goes with the last one

    def _out(self, piece: memoryview, descriptor: int) -> None:
        """An aligned ``piece`` at the staging place: past the page cache if this filesystem
        takes it, else (or what a filling disk left) through it, meeting the same error."""
        done = self._direct(piece, self._at)
        if done < len(piece):
            with piece[done:] as rest:
                write_at(descriptor, rest, self._at + done)

    def _direct(self, piece: memoryview, offset: int) -> int:
        """Bytes of ``piece`` written at ``offset`` past the page cache (0: not possible on
        this filesystem, where nothing was written)."""
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


def write_at(descriptor: int, piece: bytes | memoryview, offset: int) -> None:
    """All of ``piece`` at ``offset`` through the page cache (its views let go on the way out,
    an error included)."""
    with memoryview(piece) as view:
        done = 0
        while done < len(view):
            with view[done:] as rest:
                done += os.pwrite(descriptor, rest, offset + done)

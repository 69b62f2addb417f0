"""The local-disk backend: blobs in `<root>/ab/cd/<sha256>` on the node's disk.

A write goes to a temp file in `<root>/tmp`, is hashed as it streams, fsynced, then renamed to
its hash (and the folder fsynced). Damaged and unreferenced content goes to
`<root>/quarantine/<time>-<reason>-<digest>`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from hameau.node.blobs.base import (
    VERIFY_FIRST,
    BlobDamaged,
    BlobError,
    BlobInfo,
    BlobStore,
    BlobWriter,
    hash_file,
    is_digest,
)
from hameau.node.blobs.direct import ALIGN, STAGE_FROM, DirectWrites
from hameau.node.blobs.spool import SpoolWriter
from hameau.node.blobs.verified import VerifiedReader, _identity
from hameau.node.group import GroupSync

_STAMP = "%Y%m%dT%H%M%SZ"
MARKER = ".hameau-store"  # written once the store is evidently the node's (travel.apply)
ASIDE = "purged-"  # in the temp folder, until the purge that set it aside is committed


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def sync_filesystem(path: Path) -> None:
    """Flush the filesystem holding ``path`` to disk (Linux syncfs; elsewhere, sync all).
    A write the disk refused meanwhile (Linux reports it to syncfs) raises OSError: what
    that sync was to make durable is not."""
    libc = _libc()
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if libc is not None and hasattr(libc, "syncfs"):
            if libc.syncfs(descriptor) == 0:
                return
            failed = ctypes.get_errno()
            if failed != errno.ENOSYS:
                raise OSError(failed, f"syncing the filesystem: {os.strerror(failed)}")
        os.sync()
    finally:
        os.close(descriptor)


def _start_writeback(descriptor: int, start: int = 0, count: int = 0) -> None:
    """Ask Linux to start writing a file's data out (sync_file_range; ``count`` 0: up to its
    end), so the fsyncs that follow wait for writes already under way; elsewhere, nothing."""
    libc = _libc()
    if libc is not None and hasattr(libc, "sync_file_range"):
        libc.sync_file_range(descriptor, ctypes.c_int64(start), ctypes.c_int64(count), 2)  # _WRITE


WRITEBACK_STEP = 32 << 20  # a large upload is sent to the disk as it comes, this much at a time
# A content written to be settled (a move's) this large starts its writeback as it closes; a
# smaller one is left to the sync that settles it (a move's thousands of photos: one call
# each cost the receiver more than the sync saved, docs/benchmarks.md, "Moving home, round 6").
EARLY_FROM = 1 << 20


class LocalWriter(SpoolWriter):
    """Streams content into a temp file; `commit()` makes it durable and returns its hash."""

    def __init__(self, store: LocalBlobStore, settled: bool = False) -> None:
        super().__init__(store.temp_dir)
        self.store, self.settled = store, settled  # settled: see BlobStore.writer
        self._sent = 0  # bytes whose writeback was started
        self._direct = DirectWrites(str(self._temp))
        self._direct.usable = self._direct.usable and not settled

    def _put(self, chunk: bytes | memoryview) -> None:
        """Past `STAGE_FROM` bytes, the content goes past the page cache (`blobs.direct`),
        from the next aligned place on; before, through the page cache."""
        direct = self._direct
        if direct.staging:
            direct.add(chunk, self._file.fileno())
            return
        gap = -self.size % ALIGN  # bytes to the next aligned place, through the page cache
        if not direct.usable or self.size + len(chunk) < STAGE_FROM or len(chunk) <= gap:
            self._file.write(chunk)
            return
        with memoryview(chunk) as view, view[:gap] as start, view[gap:] as rest:
            self._file.write(start)
            self._file.flush()  # the file object is not written again: the rest is `direct`'s
            direct.start(self.size + gap)
            direct.add(rest, self._file.fileno())

    def _all_in_file(self) -> None:
        """What the staging buffer still holds, into the file."""
        if self._direct.staging:
            self._direct.finish(self._file.fileno())

    def abort(self) -> None:
        self._direct.release()
        super().abort()

    def _written(self) -> None:
        """Every `WRITEBACK_STEP` bytes, start writing the step out: the fsync at the end
        then waits for the last step only, not for the whole content."""
        if self.size - self._sent >= WRITEBACK_STEP:
            self._file.flush()
            _start_writeback(self._file.fileno(), self._sent, self.size - self._sent)
            self._sent = self.size

    def commit(self, expect: str | None = None, later: bool = False) -> str:
        """See `_commit`; a full disk raises InsufficientStorage (507), nothing kept."""
        try:
            return self._commit(expect, later)
        except OSError as error:
            self._failed(error)

    def _commit(self, expect: str | None, later: bool) -> str:
        """fsync, rename to the content's hash (or drop it if already stored), return the hash.

        With ``expect``, content whose hash differs is dropped and BlobError raised. With
        ``later``, the content is only hashed and closed; `LocalBlobStore.settle` makes a
        batch of such writes durable and puts them in place together."""
        digest = self._hashed(expect)
        self._all_in_file()
        self._file.flush()
        if later:
            if not self.settled or self.size >= EARLY_FROM:
                _start_writeback(self._file.fileno())  # under way by the time `settle` syncs
            self._file.close()
            self._file = None
            self.digest = digest
            return digest
        # Even when this content is stored already: the stored copy may be damaged, this one
        # was just hashed, so it takes its place. Made durable with the writes of the moment.
        self.digest = digest
        try:
            self.store.group.sync(self)
        except BaseException:
            self.digest = None
            raise
        return digest

    def descriptor(self) -> int:
        assert self._file is not None
        self._all_in_file()
        return self._file.fileno()

    def close_file(self) -> None:
        assert self._file is not None
        self._all_in_file()
        self._file.close()
        self._file = None

    def keep(self, path: Path) -> int:
        """Stop, and keep the bytes written so far at ``path`` (a transfer cut short goes on
        from them; OSError if ``path`` is on another filesystem); returns how many."""
        assert self._file is not None
        self._all_in_file()
        self._file.close()
        self._file = None
        os.replace(self._temp, path)
        return self.size


class LocalBlobStore(BlobStore):
    """Blobs in `<root>/ab/cd/<sha256>` on the node's disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.group = GroupSync(self._make_durable)  # writes made durable together
        self._syncers: ThreadPoolExecutor | None = None  # made on the first group of two
        self.temp_dir = root / "tmp"
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.quarantine_dir = root / "quarantine"

    def writer(self, settled: bool = False) -> LocalWriter:
        return LocalWriter(self, settled)

    def path(self, digest: str) -> Path:
        return Path(self._file(digest))

    def _file(self, digest: str) -> str:
        """The content's file, as text: a re-sync asks hundreds (a Path built part by part
        cost more than the stat)."""
        if not is_digest(digest):
            raise BlobError(f"not a blob name: {digest!r}")
        return f"{self.root}/{digest[:2]}/{digest[2:4]}/{digest}"

    def exists(self, digest: str) -> bool:
        return os.path.isfile(self._file(digest))

    def info(self, digest: str) -> BlobInfo | None:
        try:
            stat = os.stat(self._file(digest))
        except FileNotFoundError:
            return None
        return BlobInfo(stat.st_size, _identity(stat))

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def quarantine_location(self) -> str:
        return str(self.quarantine_dir)

    def local_folder(self) -> Path:
        return self.root

    def has_marker(self) -> bool:
        return (self.root / MARKER).is_file()

    def write_marker(self) -> None:
        (self.root / MARKER).write_text("This folder is a hameau content store; keep this file.\n")

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise BlobError(f"blob {digest} is missing from the store") from None

    open_unchecked = open

    def read(self, digest: str) -> bytes:
        with self.open(digest) as handle:
            return handle.read()

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def stored(self) -> list[str]:
        """The names of every blob in the store (not the temp files or the quarantine)."""
        return [path.name for path in self.root.glob("??/??/*") if len(path.name) == 64]

    def place(self, temp: Path, digest: str, sync: bool = True) -> set[Path]:
        """Rename a written, fsynced temp file to its hash; with ``sync``, durably (the
        folders it goes into are fsynced, new ones included). Returns those folders."""
        final = self.path(digest)
        changed = {final.parent}
        if not final.parent.is_dir():
            for folder in (final.parent.parent, final.parent):
                if not folder.is_dir():
                    folder.mkdir(exist_ok=True)
                    changed.add(folder.parent)
        os.replace(temp, final)
        if sync:
            for folder in sorted(changed):  # parents first
                self.sync_dir(folder)
        return changed

    def _make_durable(self, writers: list[LocalWriter]) -> None:
        """A group of writes (see `node.group`): their content on the disk, in place under
        their names, their folders on the disk. The filesystem's journal commits the others'
        changes with the first fsync, so each later one finds its work mostly done: a group
        costs about two journal commits, where a write alone costs two to four."""
        descriptors = [writer.descriptor() for writer in writers]
        try:
            self._in_place_durably(writers, descriptors)
        finally:
            for writer in writers:
                if writer._file is not None:
                    writer.close_file()

    def settle_small(self, writers: list[BlobWriter]) -> None:
        """Writes committed with ``later``, made durable and put in place as `_make_durable`
        does (each file, then each folder, fsynced at once): `settle`'s syncs of the whole
        filesystem would also wait for every other program's data on this disk."""
        locals_ = [writer for writer in writers if isinstance(writer, LocalWriter)]
        assert len(locals_) == len(writers), "writers of another store"
        descriptors: list[int] = []
        try:
            for writer in locals_:
                descriptors.append(os.open(writer._temp, os.O_RDONLY))
            self._in_place_durably(locals_, descriptors)
        finally:
            for descriptor in descriptors:
                os.close(descriptor)

    def _in_place_durably(self, writers: list[LocalWriter], descriptors: list[int]) -> None:
        """The content behind ``descriptors`` on the disk first, then renamed to its hash,
        then its folders on the disk: a name never points to content that is not."""
        for descriptor in descriptors:
            _start_writeback(descriptor)
        self._at_once(os.fsync, descriptors)
        changed: set[Path] = set()
        for writer in writers:
            assert writer.digest is not None
            changed |= self.place(writer._temp, writer.digest, sync=False)
        self._at_once(self.sync_dir, sorted(changed))

    def _at_once(self, sync: Callable[[Any], None], items: list[Any]) -> None:
        """fsync several files or folders at the same time: the filesystem's journal takes
        them in one commit (a group of 4 new blobs' folders: 2.8 ms, against 6.1 one after
        the other, docs/benchmarks.md)."""
        if len(items) < 2:
            for item in items:
                sync(item)
            return
        if self._syncers is None:
            self._syncers = ThreadPoolExecutor(8, thread_name_prefix="blob-sync")
        for _done in self._syncers.map(sync, items):  # the first failure is raised here
            pass

    def open_verified(self, digest: str) -> VerifiedReader:
        return VerifiedReader(self, digest)

    def verify(self, digest: str, between: Callable[[], None] | None = None) -> str | None:
        """None if the content is there and hashes to its name, else "missing" or "damaged"."""
        try:
            with self.path(digest).open("rb") as handle:
                return None if hash_file(handle, between) == digest else "damaged"
        except FileNotFoundError:
            return "missing"

    def ensure_sound(self, digest: str, size: int) -> BlobInfo:
        """Before serving content recorded with ``size``: it must be there; if its size differs
        or it is small enough to hash at once, it must hash to its name. Damaged content is
        quarantined. Raises `BlobDamaged`. (Larger content is checked as it is read whole, and
        by the weekly scrub: a ranged read of it is served after the size check only.)"""
        try:
            stat = self.path(digest).stat()
        except FileNotFoundError:
            raise BlobDamaged(digest, "missing") from None
        if stat.st_size == size and size > VERIFY_FIRST:
            return BlobInfo(stat.st_size, _identity(stat))
        found = self.verify(digest)
        if found is not None:
            if found == "damaged":
                self.quarantine(digest, "damaged", only=_identity(stat))
            raise BlobDamaged(digest, found)
        return BlobInfo(stat.st_size, _identity(stat))

    # ------------------------------------------------------------ quarantine

    def quarantine(self, digest: str, reason: str, only: Any = None) -> str | None:
        """Move a blob aside into `quarantine/<time>-<reason>-<digest>`; never delete it.

        With ``only`` (device, inode), only if the store still holds that very copy: a good
        copy written meanwhile in its place stays. Returns where it went, or None."""
        source = self.path(digest)
        try:
            if only is not None and _identity(source.stat()) != only:
                return None
        except FileNotFoundError:
            return None
        self.quarantine_dir.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime(_STAMP)
        target = self.quarantine_dir / f"{stamp}-{reason}-{digest}"
        number = 0
        while target.exists():
            number += 1
            target = self.quarantine_dir / f"{stamp}-{reason}-{digest}.{number}"
        try:
            os.replace(source, target)
        except FileNotFoundError:
            return None
        self.sync_dir(self.quarantine_dir)
        self.sync_dir(source.parent)
        return str(target)

    def quarantined(self) -> list[tuple[str, datetime]]:
        """What is in the quarantine, with when it went there."""
        if not self.quarantine_dir.is_dir():
            return []
        found = []
        for path in self.quarantine_dir.iterdir():
            try:
                when = datetime.strptime(path.name.split("-", 1)[0], _STAMP).replace(tzinfo=UTC)
            except ValueError:  # put there by hand: its own date
                when = datetime.fromtimestamp(path.lstat().st_mtime, UTC)
            found.append((path.name, when))
        return sorted(found, key=lambda item: item[1])

    def quarantine_size(self) -> int:
        """Bytes held in the quarantine (shown to admins)."""
        total = 0
        for name, _when in self.quarantined():
            try:
                total += (self.quarantine_dir / name).stat().st_size
            except FileNotFoundError:  # purged meanwhile
                continue
        return total

    def purge_quarantine(self, older_than: timedelta | None = None) -> tuple[int, int]:
        """Delete what the quarantine holds (only what went there before ``older_than`` ago,
        if given); returns how many files and bytes."""
        cutoff = None if older_than is None else datetime.now(UTC) - older_than
        count = size = 0
        for name, when in self.quarantined():
            if cutoff is None or when < cutoff:
                held = self.quarantine_dir / name
                with contextlib.suppress(FileNotFoundError):  # purged meanwhile
                    size += held.stat().st_size
                    held.unlink()
                    count += 1
        return count, size

    def clear_temp(self) -> int:
        """Remove temp files left by writes cut short (a crash, a kill -9); returns how many."""
        removed = 0
        for leftover in self.temp_dir.glob("upload-*"):
            leftover.unlink(missing_ok=True)
            removed += 1
        self.put_back_cut_short()
        return removed

    def put_back_cut_short(self) -> int:
        asides = list(self.temp_dir.glob(f"{ASIDE}*"))
        for aside in asides:  # a purge cut short: put back, as it was
            self.put_back(aside.name.removeprefix(ASIDE))
        return len(asides)

    def _aside(self, digest: str) -> Path:
        return self.temp_dir / f"{ASIDE}{self.path(digest).name}"

    def set_aside(self, digest: str) -> int | None:
        final, aside = self.path(digest), self._aside(digest)
        try:
            size = final.stat().st_size
            os.replace(final, aside)
        except FileNotFoundError:
            return None
        return size

    def put_back(self, digest: str) -> None:
        final, aside = self.path(digest), self._aside(digest)
        if final.exists():  # written again meanwhile: that copy is as good
            aside.unlink(missing_ok=True)
        elif aside.exists():
            os.replace(aside, final)

    def drop_aside(self, digest: str) -> None:
        self._aside(digest).unlink(missing_ok=True)

    def settle(self, writers: list[BlobWriter]) -> None:
        """Make writes committed with ``later`` durable and put them in place: one sync of
        the filesystem for all their content, the renames, one more for the renames (the
        same guarantee as an fsync of each file and of each folder, at two syncs in all)."""
        if not writers:
            return
        sync_filesystem(self.root)
        for writer in writers:
            assert writer.digest is not None
            assert isinstance(writer, LocalWriter)
            self.place(writer._temp, writer.digest, sync=False)  # the store's copy may be bad
        sync_filesystem(self.root)

    @staticmethod
    def sync_dir(folder: Path) -> None:
        """Make a rename in ``folder`` durable."""
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

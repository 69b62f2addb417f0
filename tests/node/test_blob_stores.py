"""The blob store's interface, the same tests on both backends: the local disk and an S3
store on a real SeaweedFS cluster (three volume servers, two copies of every object)."""

from __future__ import annotations

import hashlib
import mmap
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hameau.node.blobs import BlobDamaged, BlobError, BlobStore
from tests.blobstores import flip, overwrite
from tests.seaweed import ACCESS_KEY, BUCKET, SECRET_KEY

BIG = 20 << 20  # above the S3 store's part size: a multipart upload


def test_content_goes_in_under_its_hash_and_comes_back(store: BlobStore) -> None:
    data = os.urandom(BIG + 123)
    with store.writer() as writer:
        for start in range(0, len(data), 1 << 20):
            writer.write(data[start : start + (1 << 20)])
        digest = writer.commit()
    small = store.put(b"hello")
    assert store.exists(digest) and store.size(digest) == len(data)
    assert store.read(small) == b"hello" and store.size(small) == 5
    assert sorted(store.stored()) == sorted([digest, small])
    with store.open_verified(digest) as reader:
        assert reader.read() == data
    assert store.verify(digest) is None and store.info(small) is not None


def test_content_that_is_not_what_was_announced_is_not_kept(store: BlobStore) -> None:
    with store.writer() as writer:
        writer.write(b"not what you think")
        with pytest.raises(BlobError):
            writer.commit(expect="0" * 64)
    with store.writer() as writer:
        writer.write(b"cut short")  # never committed: an aborted upload
    assert list(store.stored()) == [] and not store.exists("0" * 64)


def test_a_ranged_read_gets_its_bytes(store: BlobStore) -> None:
    data = os.urandom(3 << 20)
    digest = store.put(data)
    with store.open_verified(digest) as reader:
        reader.seek(1_000_000)
        assert reader.read(5000) == data[1_000_000:1_005_000]
        reader.seek(0)
        assert reader.read() == data


def test_writing_the_same_bytes_again_replaces_a_damaged_copy(store: BlobStore) -> None:
    data = os.urandom(5000)
    digest = store.put(data)
    flip(store, digest)
    assert store.verify(digest) == "damaged"
    assert store.put(data) == digest
    assert store.verify(digest) is None and store.read(digest) == data


def test_a_full_read_refuses_the_last_bytes_of_damaged_content(store: BlobStore) -> None:
    digest = store.put(os.urandom(3 * (1 << 20) + 17))
    flip(store, digest, at=2 << 20)
    received = 0
    with pytest.raises(BlobDamaged), store.open_verified(digest) as reader:
        while chunk := reader.read(1 << 20):
            received += len(chunk)
    assert received < reader.size  # the end never came out
    assert not store.exists(digest)  # gone to the quarantine, not deleted
    assert [name.split("-")[1:] for name, _ in store.quarantined()] == [["damaged", digest]]
    assert store.quarantine_size() == reader.size
    assert store.purge_quarantine() == (1, reader.size) and store.quarantined() == []


def test_content_overwritten_with_other_bytes_is_never_served(store: BlobStore) -> None:
    """Other bytes of another size, put there behind the store's back."""
    digest = store.put(b"the real note, twenty-nine b.")
    overwrite(store, digest, b"something else entirely, and longer than the note")
    with pytest.raises(BlobDamaged) as refused:
        store.ensure_sound(digest, 29)
    assert refused.value.reason == "damaged" and not store.exists(digest)
    assert len(store.quarantined()) == 1
    with pytest.raises(BlobDamaged) as missing:
        store.open_verified(digest)
    assert missing.value.reason == "missing"


def test_a_good_copy_written_meanwhile_is_not_quarantined(store: BlobStore) -> None:
    data = os.urandom(2 << 20)
    digest = store.put(data)
    flip(store, digest)
    reader = store.open_verified(digest)
    store.put(data)  # an upload of the same bytes replaces the damaged copy while it is read
    received = b""
    try:  # the copy opened (the local disk), or the new one (S3 reads ranges as it goes)
        while chunk := reader.read(1 << 20):
            received += chunk
    except BlobDamaged:
        received = data
    reader.close()
    assert received == data  # never the damaged bytes, whole
    assert store.verify(digest) is None and store.quarantined() == []


def test_sizes_and_small_content_are_checked_before_serving(store: BlobStore) -> None:
    digest = store.put(b"hello world, this is a note")
    store.ensure_sound(digest, 27)
    overwrite(store, digest, b"hello worl")  # cut short
    with pytest.raises(BlobDamaged) as damaged:
        store.ensure_sound(digest, 27)
    assert damaged.value.reason == "damaged"
    with pytest.raises(BlobDamaged) as missing:
        store.ensure_sound(digest, 27)
    assert missing.value.reason == "missing"


def test_a_purge_sets_aside_then_puts_back_or_drops(store: BlobStore) -> None:
    one, two = store.put(b"one"), store.put(b"two")
    assert store.set_aside(one) == 3 and not store.exists(one)
    store.put_back(one)
    assert store.read(one) == b"one"
    assert store.set_aside(two) == 3
    store.drop_aside(two)
    store.put_back(two)  # dropped for good: nothing to put back
    assert not store.exists(two) and store.set_aside(two) is None
    assert store.set_aside(one) == 3
    store.clear_temp()  # a purge cut short by a kill: put back, as it was
    assert store.read(one) == b"one"


def test_writes_committed_later_are_there_once_settled(store: BlobStore) -> None:
    writers = []
    for number in range(3):
        writer = store.writer()
        writer.write(f"content {number}".encode())
        writer.commit(later=True)
        writers.append(writer)
    store.settle(writers)
    assert sorted(store.read(w.digest or "") for w in writers) == [
        b"content 0",
        b"content 1",
        b"content 2",
    ]


def test_a_full_disk_under_a_write_is_a_507_and_leaves_nothing(store: BlobStore) -> None:
    """Both backends write into a temp file on the node's disk first: when that disk fills,
    the write says so with the household's sentence (507) and no part of it stays."""
    from hameau.errors import InsufficientStorage
    from tests.e2e.test_full_disk import small_disk

    spool = store.temp_dir if hasattr(store, "temp_dir") else store.spool  # type: ignore[attr-defined]
    with small_disk(spool, "1m"):
        writer = store.writer()
        with pytest.raises(InsufficientStorage):
            for _ in range(4):
                writer.write(os.urandom(512 << 10))
            writer.commit()
        assert list(spool.glob("upload-*")) == []
    assert list(store.stored()) == []


def test_the_marker_says_whose_store_it_is(store: BlobStore, tmp_path: Path) -> None:
    assert not store.has_marker()
    store.write_marker()
    assert store.has_marker() and store.location


KILLED_MID_UPLOAD = """
import os, signal, sys
from types import SimpleNamespace
from pathlib import Path
import obstore
from hameau.node.blobs import load_store
settings = SimpleNamespace(**dict(pair.split("=", 1) for pair in sys.argv[1:]))
store = load_store(settings.blob_store, Path(settings.folder), settings)
def parts():
    for number in range(4):
        if number == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # the process dies with two parts sent
        yield os.urandom(8 << 20)
obstore.put(store.objects, "blobs/" + "ab" * 32, parts(), chunk_size=8 << 20, max_concurrency=1)
"""


def test_a_process_killed_mid_upload_leaves_nothing_and_its_upload_is_aborted(
    seaweed: Any, tmp_path: Path
) -> None:
    """A multipart upload cut by SIGKILL: no object under the name; `clear_temp` (at the next
    start) aborts the upload, whose parts would otherwise stay in the bucket."""
    from hameau.node.blobs.s3sign import multipart_uploads
    from tests.blobstores import s3_store

    store = s3_store(seaweed, tmp_path / "blobs")
    given = {**seaweed.settings(store.prefix), "folder": str(tmp_path / "blobs")}  # type: ignore[attr-defined]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_UPLOAD, *(f"{k}={v}" for k, v in given.items())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not store.exists("ab" * 32) and list(store.stored()) == []
    keys = (ACCESS_KEY, SECRET_KEY)
    under = f"{store.prefix}/blobs/"  # type: ignore[attr-defined]
    left = multipart_uploads(f"{seaweed.endpoint}/{BUCKET}", under, keys, "us-east-1")
    assert len(left) == 1, "the kill left an unfinished multipart upload"
    store.upload_grace = timedelta(0)  # type: ignore[attr-defined]  # no sibling process here
    assert store.clear_temp() == 1
    assert multipart_uploads(f"{seaweed.endpoint}/{BUCKET}", under, keys, "us-east-1") == []


@pytest.mark.parametrize("beside", [True, False], ids=["hashed-beside", "hashed-inline"])
def test_large_pieces_from_a_reused_buffer_hash_to_their_content(tmp_path: Path, beside: bool) -> None:  # fmt: skip
    """A large upload's pieces come from a reused buffer (node/socket_body.py): each is hashed
    (beside the write when a core is spare, or inline) and written before `write` returns, and
    its writeback is started every WRITEBACK_STEP bytes; the content and its hash are exact."""
    from hameau.node.blobs.local import WRITEBACK_STEP, LocalBlobStore

    store, data = LocalBlobStore(tmp_path / "blobs"), os.urandom(WRITEBACK_STEP + (3 << 20) + 5)
    buffer = bytearray(1 << 20)
    with store.writer() as writer:
        writer._beside = beside  # what `spare_core` decides from the machine's load
        for start in range(0, len(data), len(buffer)):
            piece = data[start : start + len(buffer)]
            buffer[: len(piece)] = piece
            with memoryview(buffer)[: len(piece)] as view:
                writer.write(view)
            buffer[:] = bytes(len(buffer))  # reused at once, as the socket's ring does
        digest = writer.commit()
    assert digest == hashlib.sha256(data).hexdigest()
    with store.open_verified(digest) as reader:
        assert reader.read() == data


def _pieces(data: bytes, size: int) -> Iterator[memoryview]:
    """``data`` in pieces of ``size`` from one reused page-aligned buffer, as the socket's
    ring hands them (node/socket_body.py)."""
    with mmap.mmap(-1, size) as buffer:
        for start in range(0, len(data), size):
            piece = data[start : start + size]
            buffer[: len(piece)] = piece
            with memoryview(buffer)[: len(piece)] as view:
                yield view
            buffer[:] = bytes(size)  # reused at once


def cached_bytes(path: Path) -> int:
    """How much of ``path`` the page cache holds (util-linux `fincore`)."""
    if shutil.which("fincore") is None:
        pytest.skip("not run: util-linux's fincore is not installed")
    done = subprocess.run(["fincore", "--bytes", "--raw", "--noheadings", "--output", "RES",
                           str(path)], capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout.split()[0])


@pytest.mark.parametrize(
    "pieces",
    ["aligned", "unaligned-start", "bytes"],
)
def test_large_content_goes_past_the_page_cache_and_comes_back_exact(tmp_path: Path, pieces: str) -> None:  # fmt: skip
    """Past its first MiB a content is written past the page cache (node/blobs/direct.py):
    from the caller's buffer when it is aligned (the socket's ring), else through a staging
    buffer (pieces of odd sizes, an unaligned start, `bytes`); the content and its hash are
    exact, a read gets every byte, and the page cache holds little of it."""
    from hameau.node.blobs.local import LocalBlobStore

    store, data = LocalBlobStore(tmp_path / "blobs"), os.urandom((12 << 20) + 123)
    with store.writer() as writer:
        if pieces == "aligned":
            for view in _pieces(data, 1 << 20):
                writer.write(view)
        elif pieces == "unaligned-start":
            writer.write(data[:5000])
            for view in _pieces(data[5000:], 1 << 20):
                writer.write(view)
        else:
            for start in range(0, len(data), 70001):
                writer.write(data[start : start + 70001])
        digest = writer.commit()
    assert digest == hashlib.sha256(data).hexdigest()
    assert cached_bytes(store.path(digest)) <= 2 << 20  # through the cache: all 12 MiB
    with store.open_verified(digest) as reader:
        assert reader.read() == data


def test_content_kept_mid_way_holds_every_byte_written(tmp_path: Path) -> None:
    """A transfer cut short keeps what was written so far (moving/stream.py), staging
    buffer included."""
    from hameau.node.blobs.local import LocalBlobStore

    store, data = LocalBlobStore(tmp_path / "blobs"), os.urandom((3 << 20) + 777)
    writer = store.writer()
    for start in range(0, len(data), 70001):
        writer.write(data[start : start + 70001])
    assert writer.keep(tmp_path / "partial") == len(data)
    assert (tmp_path / "partial").read_bytes() == data


def test_a_full_disk_under_direct_writes_is_a_507_and_leaves_nothing(tmp_path: Path) -> None:
    """A disk filling up under pieces written past the page cache says so the same way."""
    from hameau.errors import InsufficientStorage
    from hameau.node.blobs.local import LocalBlobStore
    from tests.e2e.test_full_disk import small_disk

    store = LocalBlobStore(tmp_path / "blobs")
    with small_disk(store.temp_dir, "3m"):
        writer = store.writer()
        with pytest.raises(InsufficientStorage):
            for view in _pieces(os.urandom(8 << 20), 1 << 20):
                writer.write(view)
            writer.commit()
        assert list(store.temp_dir.glob("upload-*")) == []
    assert list(store.stored()) == []

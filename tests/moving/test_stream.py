"""A move's contents as signed streams (hameau/moving/stream.py): small contents share a
stream, a large one goes alone, from the bytes the receiver has of it; the receiver hashes
each record as it arrives and stores it only if it hashes to its name; a stream cut short
keeps its whole, verified records and the bytes of the one it was in, to go on from."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
from pathlib import Path

import pytest

from hameau.moving import receiving, stream, transfer
from hameau.moving.errors import MoveConflict, PieceRefused
from hameau.moving.models import Move
from hameau.node.blobs import local
from hameau.node.datadir import Node
from tests.helpers import make_node

BATCH = stream.BATCH


@pytest.fixture
def target(tmp_path: Path) -> Node:
    node = make_node(tmp_path / "target")
    yield node  # type: ignore[misc]
    node.close()


def contents(*sizes: int) -> dict[str, bytes]:
    found = {}
    for number, size in enumerate(sizes):
        data = bytes([number % 251]) * size
        found[hashlib.sha256(data).hexdigest()] = data
    return found


def opener(given: dict[str, bytes]) -> stream.Opener:
    return lambda digest: io.BytesIO(given[digest])  # type: ignore[return-value]


def body(items: list[stream.Item], given: dict[str, bytes]) -> bytes:
    return b"".join(stream.body(items, opener(given)))


def arrive(node: Node, move: Move, data: bytes) -> stream.Arrival:
    """The receiver's side of one stream, as the route does it: the index checked against
    the digest the signature covers, then the records fed in blocks."""
    line, _, rest = data.partition(b"\n")
    arrival = receiving.arrival(node, move, stream.parse_index(line, stream.index_digest(line)))
    for start in range(0, len(rest), 1000):
        arrival.feed(rest[start : start + 1000])
    return arrival


def test_small_contents_share_a_stream_and_a_large_one_goes_alone() -> None:
    sizes = {"a" * 64: 10, "b" * 64: 0, "c" * 64: 2000, "d" * 64: BATCH + 5, "e" * 64: 7}
    cut = list(stream.batches(dict.fromkeys(sizes, 0), sizes))
    assert [[item[0][0] for item in items] for items in cut] == [["a", "b", "c"], ["d"], ["e"]]
    assert cut[1] == [["d" * 64, 0, BATCH + 5]]
    [resumed] = stream.batches({"d" * 64: 100}, sizes)
    assert resumed == [["d" * 64, 100, BATCH + 5]] and stream.length(resumed) == BATCH - 95


def test_the_receiver_stores_each_record_once_whole_and_verified(target: Node) -> None:
    move = Move(move_id="m1", state="copying")
    given = contents(5, 0, 3000, 250_000)
    items = [[digest, 0, len(data)] for digest, data in sorted(given.items())]
    assert arrive(target, move, body(items, given)).finish() == 4
    assert all(target.blobs.read(d) == data for d, data in given.items())
    assert receiving.lacking(target, move, list(given)) == {}


def test_a_record_that_does_not_hash_to_its_name_is_refused_and_not_kept(target: Node) -> None:
    move = Move(move_id="m2", state="copying")
    good = contents(100)
    [name] = good
    claimed = hashlib.sha256(b"something else").hexdigest()
    items = [[name, 0, 100], [claimed, 0, 50], ["f" * 64, 0, 10]]
    data = stream.index_line(items) + b"\n" + good[name] + b"x" * 50 + b"y" * 10
    with pytest.raises(PieceRefused, match="does not hash"):
        arrive(target, move, data)
    assert not target.blobs.exists(claimed)
    assert receiving.lacking(target, move, [claimed]) == {claimed: 0}  # nothing of it kept


def test_a_cut_stream_keeps_the_whole_records_and_goes_on_from_the_bytes_it_has(
    target: Node,
) -> None:
    move = Move(move_id="m3", state="copying")
    given = contents(300, 40_000)
    small, large = sorted(given, key=lambda digest: len(given[digest]))
    items = [[small, 0, 300], [large, 0, 40_000]]
    whole = body(items, given)
    arrival = arrive(target, move, whole[:-15_000])  # the link is cut in the large one
    with pytest.raises(PieceRefused, match="not as long"):
        arrival.finish()
    assert target.blobs.read(small) == given[small] and not target.blobs.exists(large)
    assert receiving.lacking(target, move, [small, large]) == {large: 25_000}
    [rest] = stream.batches({large: 25_000}, {large: 40_000})
    assert arrive(target, move, body(rest, given)).finish() == 1
    assert target.blobs.read(large) == given[large]
    assert not stream.partial_path(target, "m3", large).exists()


def test_a_cut_stream_leaves_no_temp_file_of_the_records_it_did_not_reach(target: Node) -> None:
    """The receiver opens the next records' temp files ahead of their bytes (moving/ahead.py):
    those a cut stream never reached are dropped with it."""
    move = Move(move_id="m7", state="copying")
    given = contents(*range(200, 300))
    items = [[digest, 0, len(data)] for digest, data in sorted(given.items())]
    whole = body(items, given)
    index = whole.index(b"\n") + 1
    seven = sum(total for _digest, _offset, total in items[:7])
    arrival = arrive(target, move, whole[: index + seven + 10])  # cut in the eighth record
    assert arrival.cut() == 7
    assert not list(target.blobs.temp_dir.glob("upload-*"))  # type: ignore[attr-defined]
    held = [digest for digest, _offset, _total in items[:7]]
    assert all(target.blobs.read(digest) == given[digest] for digest in held)
    assert len(receiving.lacking(target, move, list(given))) == 93


def test_a_stream_the_disk_refuses_to_sync_is_refused_and_nothing_of_it_kept(
    target: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A move's contents go through the page cache; the sync that settles a stream is what
    puts them on the disk. When the disk refuses a write meanwhile (Linux tells syncfs), the
    stream fails and none of its contents is stored as if it were durable."""

    class RefusingDisk:
        def syncfs(self, _descriptor: int) -> int:
            ctypes.set_errno(errno.EIO)
            return -1

    monkeypatch.setattr(local, "_libc", RefusingDisk)
    move = Move(move_id="m8", state="copying")
    given = contents(300, 40_000)
    items = [[digest, 0, len(data)] for digest, data in sorted(given.items())]
    with pytest.raises(OSError, match="syncing the filesystem"):
        arrive(target, move, body(items, given)).finish()
    assert not any(target.blobs.exists(digest) for digest in given)
    assert not list(target.blobs.temp_dir.glob("upload-*"))  # type: ignore[attr-defined]


def test_a_disk_that_fills_up_during_a_stream_keeps_nothing_of_it(target: Node) -> None:
    """The room was there when the stream began (receiving.arrival checks it), then something
    else filled the disk: the stream is refused with the full disk's sentence (507), and what
    it wrote is dropped, as the route does for any failure but a cut. A real tmpfs."""
    from hameau.errors import InsufficientStorage
    from tests.e2e.test_full_disk import small_disk

    given = contents(600 << 10, 2 << 20, 10, 20, 30)
    # In this order: the large one fills the disk, the small ones after it were opened ahead.
    items = [[digest, 0, len(data)] for digest, data in given.items()]
    data = body(items, given)
    with small_disk(target.blobs.local_folder(), "1m") as store:
        target.blobs.temp_dir.mkdir()  # type: ignore[attr-defined]
        arrival = stream.Arrival(target, "m9", items)
        with pytest.raises(InsufficientStorage):
            arrival.feed(data[data.index(b"\n") + 1 :])
        arrival.abort()
        assert not any(target.blobs.exists(digest) for digest in given)
        assert not list((store / "tmp").iterdir())


def test_a_stream_unlike_its_index_or_out_of_order_is_refused(target: Node) -> None:
    move = Move(move_id="m4", state="copying")
    given = contents(100)
    [name] = given
    line = stream.index_line([[name, 0, 100]])
    with pytest.raises(PieceRefused, match="signature covers"):
        stream.parse_index(line, stream.index_digest(line + b" "))
    with pytest.raises(PieceRefused, match="not described"):
        garbled = b'{"items": [["nothex", 0, 1]]}'
        stream.parse_index(garbled, stream.index_digest(garbled))
    nested = b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # past Python's stack
    with pytest.raises(PieceRefused, match="not described"):
        stream.parse_index(nested, stream.index_digest(nested))
    with pytest.raises(PieceRefused, match="longer than"):
        arrive(target, move, line + b"\n" + given[name] + b"more")
    with pytest.raises(PieceRefused, match="came before"):
        arrive(target, move, body([[name, 50, 100]], given))
    with pytest.raises(MoveConflict):
        receiving.arrival(target, Move(move_id="m5", state="waiting"), [])


def test_damaged_content_at_home_stops_the_move_in_words(tmp_path: Path, target: Node) -> None:
    """The sender reads its contents as they are (the receiver hashes them): a damaged one
    is refused there, then found damaged here, quarantined, and the move stops in words."""
    home = make_node(tmp_path / "home")
    try:
        digest = home.blobs.put(b"z" * 1000)
        stored = home.blobs.path(digest)  # type: ignore[attr-defined]
        stored.chmod(0o644)
        stored.write_bytes(b"q" * 1000)  # a disk's damage
        items = [[digest, 0, 1000]]
        sent = b"".join(stream.body(items, transfer._blob_opener(home)))
        with pytest.raises(PieceRefused, match="does not hash"):
            arrive(target, Move(move_id="m6", state="copying"), sent).finish()
        assert not target.blobs.exists(digest)
        with pytest.raises(MoveConflict, match="damaged at this home"):
            transfer._sound(home, items)
        assert not stored.exists() and home.blobs.quarantined()  # set aside, not sent again
    finally:
        home.close()

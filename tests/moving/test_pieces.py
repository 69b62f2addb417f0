"""The pieces of a move: the sender cuts what the receiver lacks in requests of at most
PIECE bytes (small contents share one, a large one spans several, from the bytes already there);
the receiver stores a content only once it is whole and hashes to its name."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from hameau.moving import receiving, transfer
from hameau.moving.errors import MoveConflict, PieceRefused
from hameau.moving.models import Move
from hameau.node.datadir import Node
from tests.helpers import make_node

PIECE = transfer.PIECE


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


def packs(given: dict[str, bytes], lacking: dict[str, int]) -> list[tuple[list, bytes]]:  # type: ignore[type-arg]
    sizes = {digest: len(data) for digest, data in given.items()}
    return list(transfer._packs(lacking, sizes, lambda d: io.BytesIO(given[d])))  # type: ignore[arg-type]


def body(items: list, data: bytes) -> bytes:  # type: ignore[type-arg]
    return json.dumps({"items": items}).encode() + b"\n" + data


def test_small_contents_share_a_request_and_a_large_one_spans_several() -> None:
    given = contents(10, 0, 2000, PIECE * 2 + 5)
    cut = packs(given, dict.fromkeys(given, 0))
    assert all(len(data) <= PIECE for _, data in cut) and len(cut) == 3
    rebuilt: dict[str, bytes] = {}
    for items, data in cut:
        position = 0
        for digest, offset, _size, length in items:
            assert offset == len(rebuilt.get(digest, b""))
            rebuilt[digest] = rebuilt.get(digest, b"") + data[position : position + length]
            position += length
    assert rebuilt == given


def test_a_large_content_goes_on_from_the_bytes_already_there() -> None:
    given = contents(PIECE + 100)
    [digest] = given
    [(items, data)] = packs(given, {digest: PIECE})
    assert items == [[digest, PIECE, PIECE + 100, 100]] and data == given[digest][PIECE:]


def test_the_receiver_stores_a_content_once_whole_and_verified(target: Node) -> None:
    move = Move(move_id="m1", state="copying")
    given = contents(5, PIECE + 10)
    verified = 0
    for items, data in packs(given, dict.fromkeys(given, 0)):
        verified += receiving.pieces(target, move, body(items, data))
    assert verified == 2 and all(target.blobs.read(d) == data for d, data in given.items())
    assert receiving.lacking(target, move, list(given)) == {}


def test_wrong_out_of_order_and_unaccepted_pieces_are_refused(target: Node) -> None:
    move = Move(move_id="m2", state="copying")
    data = b"y" * 100
    digest = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(PieceRefused, match="does not hash"):
        receiving.pieces(target, move, body([[digest, 0, 100, 100]], data))
    with pytest.raises(PieceRefused, match="does not hash"):  # in pieces: checked when whole
        receiving.pieces(target, move, body([[digest, 0, 100, 60]], data[:60]))
        receiving.pieces(target, move, body([[digest, 60, 100, 40]], data[60:]))
    assert not target.blobs.exists(digest)
    assert receiving.lacking(target, move, [digest]) == {digest: 0}  # the partial is dropped
    with pytest.raises(PieceRefused, match="came before"):
        receiving.pieces(target, move, body([[digest, 50, 100, 50]], data[50:]))
    with pytest.raises(PieceRefused, match="index says"):
        receiving.pieces(target, move, body([[digest, 0, 100, 100]], data[:10]))
    with pytest.raises(MoveConflict):
        receiving.pieces(target, Move(move_id="m3", state="waiting"), body([], b""))


def test_damaged_content_at_home_stops_the_move_in_words(target: Node) -> None:
    digest = target.blobs.put(b"z" * 1000)
    stored = target.blobs.path(digest)  # type: ignore[attr-defined]
    stored.chmod(0o644)
    stored.write_bytes(b"q" * 1000)  # a disk's damage
    with pytest.raises(MoveConflict, match="damaged at this home"):
        list(transfer._packs({digest: 0}, {digest: 1000}, transfer._blob_opener(target)))

"""The sending node's side of a move, as a state machine over its durable `moves` row:

    waiting    the offer is made; the receiver's acceptance is asked for
    copying    a first copy while the member goes on writing: the environment exported by
               reference (hameau/export.py), the contents the receiver lacks sent in streams
    switching  the member is frozen here (durable); the last changes are exported and sent,
               then the receiver commits: it imports and becomes the member's home
    done       this node learnt the commit: the member's `moved_to` is set, unfrozen

Every step can be cut (a kill, the link) and run again: contents the receiver holds are
not sent again, a large one goes on from the bytes it has, and a frozen member stays frozen
until the receiver says whether its commit is done (then this node lets go) or refused
for good (then the member is home here again)."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from hameau.accounts.models import Member
from hameau.hamlet import client
from hameau.hamlet.models import HamletPeer
from hameau.hamlet.signing import INDEX
from hameau.hamlet.watched import PEER_ERRORS
from hameau.moving import stream
from hameau.moving.errors import MoveConflict
from hameau.moving.models import Move
from hameau.moving.stream import Opener
from hameau.node.blobs import BlobError
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from hameau.node.peer import STATUS, Peer, PeerFailed

HASHES = 5000  # content names per question "which do you lack?"
API = "/api/hamlet/moves"
# A commit imports a whole environment: longer than a page's wait.
TIMEOUT = 600.0


def row(node: Node, move_row: int) -> Move:
    with node.sessions() as session:
        found = session.get(Move, move_row)
        assert found is not None
        session.expunge(found)
        return found


def update(node: Node, move_row: int, **values: Any) -> Move:
    with transaction(node.sessions) as session:
        found = session.get(Move, move_row)
        assert found is not None
        for name, value in values.items():
            setattr(found, name, value)
        session.flush()
        session.expunge(found)
        return found


def peer_of(node: Node, move: Move) -> HamletPeer:
    with node.sessions() as session:
        peer = session.get(HamletPeer, move.peer_id)
        assert peer is not None
        session.expunge(peer)
        return peer


def connect(node: Node, peer: HamletPeer) -> Peer:
    return client.to_peer(node, peer, always=True, timeout=TIMEOUT)


def workdir(node: Node, move: Move) -> Path:
    folder = node.layout.root / "moving" / move.move_id / "out"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _export(node: Node, move: Move) -> tuple[Path, dict[str, Any]]:
    """The member's environment by reference: metadata in a small zip, contents by hash."""
    with node.sessions() as session:
        member = session.scalar(select(Member).where(Member.name == move.member_name))
        if member is None:
            raise MoveConflict("The moving member is no longer here.")
        member_id = member.id
    out = workdir(node, move) / "environment.zip"
    manifest = node.assembled["environment"]().export_member(
        node, member_id, out, by_reference=True
    )
    return out, manifest


def references(manifest: dict[str, Any]) -> dict[str, int]:
    """Every content the archive names by hash, with its size."""
    return {e["sha256"]: e["size"] for e in manifest["entries"] if e.get("ref")}


def _lacking(peer: Peer, move_id: str, contents: dict[str, int]) -> dict[str, int]:
    names, found = sorted(contents), {}
    for start in range(0, len(names), HASHES):
        answer = peer.call("POST", f"{API}/{move_id}/lacking", json=names[start : start + HASHES])
        found.update(answer["lacking"])
    return found


def _stream(
    peer: Peer,
    move_id: str,
    items: list[stream.Item],
    opener: Opener,
    auth: Any,
    sent: threading.Event,
) -> Any:
    """One signed stream of ``items``; the receiver's answer (its row of the move). ``sent``
    is set once the body is out (or the call ended without it)."""
    line = stream.index_line(items)
    size = len(line) + 1 + stream.length(items)
    headers = {
        "Content-Type": "application/octet-stream", "Content-Length": str(size),
        INDEX: stream.index_digest(line),
    }  # fmt: skip

    def body() -> Iterator[bytes]:
        try:
            yield from stream.body(items, opener)
        finally:
            sent.set()

    try:
        return peer.call(
            "POST", f"{API}/contents/{move_id}", content=body(), headers=headers, auth=auth
        )
    finally:
        sent.set()


def send(node: Node, move: Move, peer: Peer, contents: dict[str, int], opener: Opener) -> Move:
    """Send what the receiver lacks of ``contents``, in signed streams of many MiB
    (hameau/moving/stream.py); the row counts bytes and verifications. The next stream goes
    out while the receiver makes the previous one durable (at most two in flight, never two
    sending at once: side by side they were slower, docs/benchmarks.md)."""
    from hameau.hamlet.signer import StreamSigner  # httpx: loaded with the first client

    lacking = _lacking(peer, move.move_id, contents)
    signer = StreamSigner.like(peer.signer)  # type: ignore[arg-type]
    pending: deque[tuple[list[stream.Item], Future[Any]]] = deque()
    with ThreadPoolExecutor(2, thread_name_prefix="move-send") as senders:
        try:
            for items in stream.batches(lacking, contents, node.settings.move_stream_mb << 20):
                sent = threading.Event()
                call = (peer, move.move_id, items, opener, signer, sent)
                pending.append((items, senders.submit(_stream, *call)))
                sent.wait()  # its body is out: the one before may be answered meanwhile
                while len(pending) > 1:
                    move = _answered(node, move, *pending.popleft())
            while pending:
                move = _answered(node, move, *pending.popleft())
        except BaseException:
            for _items, left in pending:  # one still in flight ends before this is raised
                wait([left])
            raise
    return move


def _answered(node: Node, move: Move, items: list[stream.Item], call: Future[Any]) -> Move:
    """A stream's answer counted on the row; a refusal checks this home's copies first."""
    try:
        answer = call.result()
    except PeerFailed as failed:
        if failed.kind == STATUS and failed.code == 400:
            _sound(node, items)  # a refused record: damaged here? say so in words
        raise
    # The receiver's count so far. Two streams are in flight, and the later one may be
    # counted there before the earlier: its answer then counts both, and the earlier's not.
    return update(
        node, move.id, bytes_sent=move.bytes_sent + stream.length(items),
        verified=counted(answer, move.verified),
    )  # fmt: skip


def counted(answer: Any, known: int) -> int:
    """The receiver's count of contents verified, from its answer, if larger than ``known``
    (what this home knew). A peer's word: anything but a count the database holds is
    ignored."""
    found = answer.get("verified") if isinstance(answer, dict) else None
    if isinstance(found, bool) or not isinstance(found, int) or not 0 <= found < 2**31:
        return known
    return max(known, found)


def _damaged(digest: str) -> MoveConflict:
    return MoveConflict(
        "A file's content (%(hash)s…) is damaged at this home, so the move stopped:"
        " run `hameau check --repair`, then move again.",
        hash=digest[:12],
    )


def _sound(node: Node, items: list[stream.Item]) -> None:
    """After the receiver refused a stream: each of its contents hashed here (sent unhashed,
    as the receiver hashes them); damaged content goes to the quarantine and stops the move."""
    for digest, _offset, _total in items:
        held = node.blobs.info(digest)
        found = "missing" if held is None else node.blobs.verify(digest)
        if found == "damaged":  # that copy only: not a good one written meanwhile
            node.blobs.quarantine(digest, "damaged", only=held.copy if held else None)
        if found is not None:
            raise _damaged(digest)


class _Checked:
    """A stored content read for sending, as it is: the receiver hashes it; missing
    content stops the move in words."""

    def __init__(self, node: Node, digest: str) -> None:
        self.digest = digest
        try:
            self.reader = node.blobs.open_unchecked(digest)
        except BlobError:
            raise _damaged(digest) from None

    def seek(self, position: int) -> int:
        return int(self.reader.seek(position))

    def read(self, size: int) -> bytes:
        return self.reader.read(size)

    def __enter__(self) -> _Checked:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.reader.close()


def _blob_opener(node: Node) -> Opener:
    return lambda digest: _Checked(node, digest)  # type: ignore[return-value]


def copy(node: Node, move: Move, peer: Peer) -> Move:
    """The environment's contents, exported and sent while the member may still write."""
    _path, manifest = _export(node, move)
    contents = references(manifest)
    move = update(
        node, move.id, bytes_total=sum(contents.values()), items_total=len(manifest["entries"])
    )
    return send(node, move, peer, contents, _blob_opener(node))


def freeze(node: Node, move: Move) -> Move:
    """The final phase starts: no write of the member's is accepted here from now on."""
    with transaction(node.sessions) as session:
        member = session.scalar(select(Member).where(Member.name == move.member_name))
        if member is None or not member.home_here:
            raise MoveConflict("The moving member is no longer home here.")
        member.frozen_at = member.frozen_at or utcnow()
        found = session.get(Move, move.id)
        assert found is not None
        found.state = "switching"
        session.flush()
        session.expunge(found)
        return found


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def last_changes(node: Node, move: Move, peer: Peer) -> tuple[Move, str]:
    """Frozen: the final export, its contents sent with the archive itself (as one more
    content: one question and one stream for both)."""
    archive, manifest = _export(node, move)
    contents = references(manifest)
    move = update(
        node, move.id, bytes_total=sum(contents.values()), items_total=len(manifest["entries"])
    )
    digest = _hash(archive)
    stored = _blob_opener(node)

    def opener(name: str) -> BinaryIO:
        return archive.open("rb") if name == digest else stored(name)

    move = send(node, move, peer, {**contents, digest: archive.stat().st_size}, opener)
    return move, digest


def finish(node: Node, move: Move, peer: HamletPeer, there: dict[str, Any] | None = None) -> Move:
    """The receiver is the member's home: this node forwards there and keeps a read-only copy
    for the rollback window. ``there``: the receiver's state of the move, whose count of
    contents verified is the whole move's."""
    from datetime import timedelta

    from hameau.moving.receiving import rollback_days

    now = utcnow()
    with transaction(node.sessions) as session:
        member = session.scalar(select(Member).where(Member.name == move.member_name))
        if member is not None:
            member.moved_to, member.moved_at, member.frozen_at = peer.address, now, None
        found = session.get(Move, move.id)
        assert found is not None
        found.state, found.switched_at, found.finished_at = "done", now, now
        found.bytes_skipped = max(0, found.bytes_total - found.bytes_sent)
        found.verified = counted(there, found.verified)
        found.rollback_until = now + timedelta(days=rollback_days(node))
        if found.rollback_of:
            for undone in session.scalars(select(Move).where(Move.move_id == found.rollback_of)):
                undone.state = "rolled_back"
        session.flush()
        session.expunge(found)
    shutil.rmtree(node.layout.root / "moving" / move.move_id, ignore_errors=True)
    return found


def abandon(node: Node, move: Move, state: str, why: str) -> Move:
    """The receiver refused or failed the move for good: the member is home here again."""
    with transaction(node.sessions) as session:
        member = session.scalar(select(Member).where(Member.name == move.member_name))
        if member is not None and member.home_here:
            member.frozen_at = None
        found = session.get(Move, move.id)
        assert found is not None
        found.state, found.error, found.finished_at = state, why[:600] or None, utcnow()
        session.flush()
        session.expunge(found)
    shutil.rmtree(node.layout.root / "moving" / move.move_id, ignore_errors=True)
    return found


def status_at(peer: Peer, move: Move) -> dict[str, Any] | None:
    """The receiver's row of this move (None if it knows none), or PEER_ERRORS."""
    from hameau.node.peer import STATUS, PeerFailed

    try:
        return dict(peer.call("GET", f"{API}/{move.move_id}"))
    except PeerFailed as failed:
        if failed.kind == STATUS and failed.code == 404:
            return None
        raise


__all__ = ["PEER_ERRORS", "Move"]

"""The receiving node's side of a move: the offer (accepted by an admin or a standing rule),
which contents it lacks, the streams of content (each verified at arrival before it is
stored), and the commit: the member's environment imported in one transaction that also
makes this node their home. Every step is idempotent: a sender killed anywhere asks again.

The member's row appears here only in the commit's transaction, already home (what the
contract's "created frozen, unfrozen by the switch" comes to, with no moment in between);
the sender stays frozen until it learns that the commit is done."""

from __future__ import annotations

import io
import json
import shutil
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.accounts.members import QUOTA_MB_MOST, check_name
from hameau.accounts.models import Member
from hameau.errors import HameauError
from hameau.hamlet.models import HamletPeer
from hameau.moving import stream
from hameau.moving.errors import MoveConflict, MoveNotFound, NameTaken, NoRoom, PieceRefused
from hameau.moving.models import Move
from hameau.node.blobs import is_digest
from hameau.node.datadir import Node
from hameau.node.db import retrying, transaction, utcnow

DISK_MARGIN = 64 << 20
# One commit at a time per node: a sender that retried must not import beside its first try.
COMMITTING = threading.Lock()
MOST_ITEMS = stream.MOST_ITEMS  # content names per question


def rollback_days(node: Node) -> int:
    return int(getattr(node.settings, "move_rollback_days", 30))


def accepts_from(node: Node, peer_name: str) -> bool:
    """The standing rule (setting `moving_accept_from`): members of this peer moving here are
    accepted without asking an admin."""
    names = {name.strip() for name in node.settings.moving_accept_from.split(",")}
    return "*" in names or peer_name in names


def find(session: Session, peer: HamletPeer, move_id: str) -> Move:
    """This peer's move of that id, arriving here; MoveNotFound for any other."""
    move = session.scalar(
        select(Move).where(Move.move_id == move_id, Move.role == "in", Move.peer_id == peer.id)
    )
    if move is None:
        raise MoveNotFound("No move %(move)s from this home is known here.", move=move_id[:40])
    return move


def _check_name(session: Session, name: str, since: datetime | None) -> None:
    """A member of that name here is refused, unless it is this person's copy left at a
    move away (moved_to set), which the arriving environment replaces."""
    found = session.scalar(select(Member).where(Member.name == name))
    if found is None:
        return
    if found.moved_to is None or (since is not None and found.created_at != since):
        raise NameTaken(
            "A member named '%(name)s' already lives at this home; they cannot move here"
            " under that name.",
            name=name,
        )


def _check_room(node: Node, size: int) -> None:
    """Room for ``size`` bytes of contents on the disk they go to (the content store's, which
    may be another than the data dir's)."""
    free = node.contents_room()
    if size + DISK_MARGIN > free:
        raise NoRoom(
            "This home's disk has %(free)s MB free, not enough for the %(size)s MB of the"
            " member moving here.",
            free=free >> 20,
            size=max(1, size >> 20),
        )


def _rolls_back(session: Session, peer: HamletPeer, given: dict[str, Any]) -> str | None:
    """The move this offer undoes, if it is the way back of one from here, in its window."""
    earlier = given.get("rollback_of")
    if not earlier:
        return None
    found = session.scalar(
        select(Move).where(
            Move.move_id == str(earlier), Move.role == "out", Move.peer_id == peer.id,
            Move.member_name == given["member"], Move.state == "done",
        )
    )  # fmt: skip
    if found is None or found.rollback_until is None or found.rollback_until < utcnow():
        raise MoveConflict(
            "This rollback's window has ended, or the move it undoes is not known here."
        )
    return found.move_id


def offer(node: Node, session: Session, peer: HamletPeer, given: dict[str, Any]) -> Move:
    """A peer proposes a member's move here: recorded (once), accepted at once by the
    standing rule or when it undoes a move from here, else waiting for an admin."""
    move_id, name = str(given["move_id"]), str(given["member"])
    found = session.scalar(select(Move).where(Move.move_id == move_id, Move.role == "in"))
    if found is not None:
        if found.peer_id != peer.id:
            raise MoveConflict("This move is another home's.")
        return found
    if check_name(name) != name:
        raise PieceRefused(
            "A move's offer names its member by their member name: lowercase, with no spaces."
        )
    try:
        since = datetime.fromisoformat(given["member_since"]) if given.get("member_since") else None
    except ValueError:
        raise PieceRefused("A move's offer gives when its member joined as an ISO date.") from None
    _check_name(session, name, since)
    _check_room(node, int(given.get("bytes_total") or 0))
    rollback_of = _rolls_back(session, peer, given)
    accepted = rollback_of is not None or accepts_from(node, peer.name)
    move = Move(
        move_id=move_id, role="in", member_name=name, member_since=since, peer_id=peer.id,
        state="copying" if accepted else "waiting",
        by=("rollback" if rollback_of else "rule") if accepted else str(given.get("by", "admin")),
        rollback_of=rollback_of, bytes_total=int(given.get("bytes_total") or 0),
        items_total=int(given.get("items_total") or 0),
        accepted_at=utcnow() if accepted else None,
    )  # fmt: skip
    session.add(move)
    session.flush()
    return move


def lacking(node: Node, move: Move, hashes: list[str]) -> dict[str, int]:
    """Of these contents, those the blob store lacks, each with the bytes of it already here
    (a stream was cut in it). Only for an accepted move: what a home holds is told to no
    peer before."""
    if move.state not in ("copying", "done"):
        raise MoveConflict("This move is %(state)s here, not copying.", state=move.state)
    found: dict[str, int] = {}
    for digest in hashes:
        if not is_digest(digest):
            raise PieceRefused("A content's name is not a SHA-256 hash.")
        if node.blobs.exists(digest):
            continue
        partial = stream.partial_path(node, move.move_id, digest)
        found[digest] = partial.stat().st_size if partial.exists() else 0
    return found


def arrival(node: Node, move: Move, items: list[stream.Item]) -> stream.Arrival:
    """Where a stream of the move's contents goes (hameau/moving/stream.py)."""
    if move.state != "copying":
        raise MoveConflict("This move is %(state)s here, not copying.", state=move.state)
    _check_room(node, stream.length(items))  # the stream is bound by its index, not a limit
    return stream.Arrival(node, move.move_id, items)


def arrived(node: Node, move: Move, verified: int, received: int) -> Move:
    """A stream's verified contents and bytes, counted on the move's row (streams of a move
    arrive side by side: the row is locked for the count on PostgreSQL; on SQLite, `retrying`
    starts the count again if another one's came between)."""

    def count(session: Session) -> Move:
        found = session.get(Move, move.id, with_for_update=True)
        assert found is not None
        found.verified += verified
        found.bytes_sent += received
        session.flush()
        session.expunge(found)
        return found

    return retrying(node.sessions, count)


def _switch(node: Node, move: Move) -> Any:
    """Within the import's transaction: the member is home here, the move done."""

    def within(session: Session, member: Member, usages: list[tuple[str, Any]]) -> None:
        here = session.merge(move)
        member.moved_to = member.moved_at = member.frozen_at = None
        now = utcnow()
        here.state, here.switched_at, here.finished_at = "done", now, now
        here.rollback_until = now + timedelta(days=rollback_days(node))
        if here.rollback_of:
            for undone in session.scalars(select(Move).where(Move.move_id == here.rollback_of)):
                undone.state = "rolled_back"
        here.parts = [{"name": n, "items": u.rows, "bytes": u.bytes} for n, u in usages]  # as here

    return within


def commit(node: Node, peer: HamletPeer, move_id: str, archive: str) -> str:
    """Import the member's environment from the archive (its contents by reference, all
    stored here already) and make this node their home, in one transaction; a commit already
    done answers so. Any refusal fails the move here for good, so the sender may unfreeze."""
    with COMMITTING:
        with transaction(node.sessions) as session:
            move = find(session, peer, move_id)
            if move.state == "done":
                return "done"
            if move.state != "copying":
                raise MoveConflict("This move is %(state)s here, not copying.", state=move.state)
            _check_name(session, move.member_name, move.member_since)
            session.expunge(move)
        if not is_digest(archive) or not node.blobs.exists(archive):
            raise PieceRefused("The move's archive has not arrived here; send it again.")
        environment = node.assembled["environment"]()
        try:
            data = io.BytesIO(node.blobs.read(archive))
            profile = _profile(data)
            _check_same_member(move, profile)
            environment.import_member(
                node, data, as_name=move.member_name, quota_mb=_quota(profile),
                by_reference=True, within=_switch(node, move), replace=True,
            )  # fmt: skip
        except HameauError as error:  # refused for good (a name, the room, a damaged archive)
            _fail(node, move.id, str(error))
            raise
        shutil.rmtree(node.layout.root / "moving" / move_id, ignore_errors=True)
        return "done"


def _profile(data: io.BytesIO) -> dict[str, Any]:
    """The archive's profile.json as the zip holds it; {} if it cannot be read there (the
    import then refuses the archive, or imports it under the move's member's name)."""
    import zipfile

    try:
        with zipfile.ZipFile(data) as packed:
            profile = json.loads(packed.read("profile.json"))
        return profile if isinstance(profile, dict) else {}
    except Exception:  # no such entry, not JSON, not a zip...: the import says it in words
        return {}
    finally:
        data.seek(0)


def _check_same_member(move: Move, profile: dict[str, Any]) -> None:
    """The archive is the moving member's, as the offer named them: another member's (this
    home's, say) is refused, so a sender cannot replace what someone else holds here."""
    if profile and profile.get("name") != move.member_name:
        raise PieceRefused(
            "The move's archive is another member's than %(name)s's, whom the offer named;"
            " the move stopped.",
            name=move.member_name,
        )


def _quota(profile: dict[str, Any]) -> int | None:
    """The member's quota at their old home, in MB: it moves with them."""
    try:
        return min(max(1, int(profile["quota_bytes"]) >> 20), QUOTA_MB_MOST)
    except (KeyError, ValueError, TypeError):
        return None


def _fail(node: Node, row_id: int, why: str) -> None:
    with transaction(node.sessions) as session:
        move = session.get(Move, row_id)
        if move is not None and move.state != "done":
            move.state, move.error = "failed", why[:600]
            move.finished_at = utcnow()

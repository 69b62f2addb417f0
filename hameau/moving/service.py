"""Moving home's service: what the command line and the pages call (docs/moving.md).

`start` records the move and makes the offer (quick: a page may call it); `resume` runs it
as far as it can go (blocking: the copy, the freeze, the switch) and is what a command, or a
worker thread of a page, calls next, and again after any cut. `accept` and `refuse` are the
receiving node's; `rollback` starts the way back, within the window, from the member's
current home. The protocol's steps are in hameau/moving/transfer.py (the sender) and
hameau/moving/receiving.py (the receiver)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import select

from hameau.accounts.models import Member
from hameau.errors import HameauError
from hameau.hamlet import service as hamlet
from hameau.hamlet.models import HamletPeer
from hameau.moving import steps, transfer
from hameau.moving.errors import MoveConflict, MoveNotFound
from hameau.moving.models import OPEN, Move
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from hameau.node.peer import Peer, PeerFailed

# For the plan's estimate: what a move sustains on a household's network and disk.
BYTES_PER_SECOND = 20 << 20
SECONDS_PER_ITEM = 0.002


@dataclass
class PartPlan:
    name: str
    items: int
    bytes: int


@dataclass
class MovePlan:
    member: str
    peer: str
    parts: list[PartPlan] = field(default_factory=list)
    total_bytes: int = 0
    missing_bytes: int | None = None  # None when the peer was not asked
    estimate_seconds: float = 0.0


def _member(node: Node, name: str) -> Member:
    with node.sessions() as session:
        member = session.scalar(select(Member).where(Member.name == name))
        if member is None:
            raise MoveNotFound("No member is called %(name)s here.", name=name)
        session.expunge(member)
        return member


def _peer(node: Node, name: str) -> HamletPeer:
    with node.sessions() as session:
        peer = hamlet.find(session, name)
        if peer.revoked_at is not None:
            raise MoveConflict("This home left %(peer)s; pair with it again first.", peer=name)
        session.expunge(peer)
        return peer


def _lacking(node: Node, peer: HamletPeer, names: list[str]) -> list[str] | None:
    found: list[str] = []
    try:
        with transfer.connect(node, peer) as connection:
            for first in range(0, len(names), transfer.HASHES):
                asked = names[first : first + transfer.HASHES]
                found += connection.call("POST", f"{transfer.API}/plan/lacking", json=asked)[
                    "lacking"
                ]
    except PeerFailed as failed:
        if failed.code == 403:
            return None
        raise
    return found


def plan(node: Node, member_name: str, peer_name: str, ask_peer: bool = False) -> MovePlan:
    """What would move, its size and an estimate; with ``ask_peer``, how much of it the peer
    lacks (it tells only if its standing rule accepts this home's members: else None)."""
    _member(node, member_name)
    peer = _peer(node, peer_name)
    usages = node.assembled["environment"]().usage_by_part(node, member_name)
    parts = [PartPlan(name, usage.rows, usage.bytes) for name, usage in usages]
    found = MovePlan(member_name, peer.name, parts, sum(part.bytes for part in parts))
    items = sum(part.items for part in parts)
    to_send = found.total_bytes
    if ask_peer:
        probe = Move(move_id=f"plan-{secrets.token_hex(6)}", member_name=member_name)
        _path, manifest = transfer._export(node, probe)
        contents = transfer.references(manifest)
        lacking = _lacking(node, peer, sorted(contents))
        if lacking is not None:  # None: the peer tells only after accepting
            found.missing_bytes = to_send = sum(contents[d] for d in lacking)
        transfer.shutil.rmtree(node.layout.root / "moving" / probe.move_id, ignore_errors=True)
    found.estimate_seconds = round(to_send / BYTES_PER_SECOND + items * SECONDS_PER_ITEM, 1)
    return found


def _check_can_move(node: Node, member: Member) -> None:
    if not member.home_here:
        raise MoveConflict(
            "%(name)s's home is %(home)s now; run this command there.",
            name=member.name, home=member.moved_to or "",
        )  # fmt: skip
    with node.sessions() as session:
        running = session.scalar(
            select(Move.move_id).where(Move.member_name == member.name, Move.state.in_(OPEN))
        )
    if running is not None:
        raise MoveConflict(
            "%(name)s is moving already (move %(move)s): see `hameau move status`, or"
            " `hameau move resume %(move)s`.",
            name=member.name, move=running,
        )  # fmt: skip


def start(
    node: Node,
    member_name: str,
    peer_name: str,
    *,
    by: str,
    rollback_of: str | None = None,
    connection: Peer | None = None,
) -> Move:
    """Record a move of the member to the peer and offer it there; returns the row, waiting
    for the receiver's acceptance or (by its standing rule) copying. `resume` runs it."""
    member = _member(node, member_name)
    peer = _peer(node, peer_name)
    _check_can_move(node, member)
    usages = node.assembled["environment"]().usage_by_part(node, member_name)
    with transaction(node.sessions) as session:
        move = Move(
            move_id=secrets.token_hex(10), role="out", member_name=member.name,
            member_since=member.created_at, peer_id=peer.id, state="waiting", by=by,
            rollback_of=rollback_of, bytes_total=sum(usage.bytes for _, usage in usages),
            items_total=sum(usage.rows for _, usage in usages), parts=steps.parts_of(usages),
        )  # fmt: skip
        session.add(move)
        session.flush()
        session.expunge(move)
    return steps.offer(node, move, peer, connection)


def move(node: Node, member_name: str, peer_name: str, *, by: str) -> Move:
    """`start` then `resume` over one connection (the command line's `hameau move`): one TLS
    handshake, and the offer's answer stands for the receiver's state."""
    with transfer.connect(node, _peer(node, peer_name)) as connection:
        started = start(node, member_name, peer_name, by=by, connection=connection)
        return resume(node, started.move_id, connection, accepted=started.state == "copying")


def moves(node: Node, member_name: str | None = None) -> list[Move]:
    """Moves known here, newest first, both roles (one member's with ``member_name``)."""
    query = select(Move).order_by(Move.created_at.desc(), Move.id.desc())
    if member_name is not None:
        query = query.where(Move.member_name == member_name)
    with node.sessions() as session:
        found = list(session.scalars(query))
        session.expunge_all()
        return found


def get(node: Node, move_id: str) -> Move:
    with node.sessions() as session:
        found = session.scalars(select(Move).where(Move.move_id == move_id)).first()
        if found is None:
            raise MoveNotFound("No move %(move)s is known here.", move=move_id[:40])
        session.expunge(found)
        return found


def _incoming(node: Node, move_id: str) -> Move:
    move = get(node, move_id)
    if move.role != "in" or move.state != "waiting":
        raise MoveConflict(
            "Move %(move)s is not waiting for this home's answer (it is %(state)s).",
            move=move_id, state=move.state,
        )  # fmt: skip
    return move


def accept(node: Node, move_id: str, *, by: str) -> Move:
    """The receiving node accepts (an admin, or the standing rule): the sender may copy. The
    sender is told at once (its served node then runs the move without waiting for anyone
    to look at it); if it cannot be reached, it learns at its next resume."""
    move = _incoming(node, move_id)
    accepted = transfer.update(node, move.id, state="copying", accepted_at=utcnow(), by=by)
    tell_accepted(node, accepted)
    return accepted


def tell_accepted(node: Node, move: Move) -> bool:
    """Nudge the sender that its move was accepted; False when it could not be told."""
    try:
        with transfer.connect(node, transfer.peer_of(node, move)) as connection:
            connection.call("POST", f"{transfer.API}/{move.move_id}/accepted", json={})
        return True
    except (PeerFailed, HameauError):
        return False


def refuse(node: Node, move_id: str, *, by: str, why: str = "") -> Move:
    move = _incoming(node, move_id)
    error = why or f"refused by {by}"
    return transfer.update(node, move.id, state="refused", error=error, finished_at=utcnow())


def rollback(node: Node, member_name: str) -> Move:
    """Within the window, the member moves back to the home they came from, with what they
    wrote here (a move the other way: what the old home holds is not sent again). Run at
    the member's current home; `resume` runs it."""
    member = _member(node, member_name)
    if not member.home_here:
        raise MoveConflict(
            "%(name)s's home is %(home)s now: run `hameau move rollback %(name)s` there.",
            name=member.name, home=member.moved_to or "",
        )  # fmt: skip
    with node.sessions() as session:
        arrival = session.scalars(
            select(Move)
            .where(Move.member_name == member_name, Move.role == "in", Move.state == "done")
            .order_by(Move.switched_at.desc())
        ).first()
        peer = session.get(HamletPeer, arrival.peer_id) if arrival else None
    if arrival is None or peer is None:
        raise MoveConflict(
            "%(name)s did not move here: there is nothing to roll back.", name=member_name
        )
    if arrival.rollback_until is None or arrival.rollback_until < utcnow():
        raise MoveConflict("The rollback window of %(name)s's move has ended.", name=member_name)
    return start(node, member_name, peer.name, by="rollback", rollback_of=arrival.move_id)


def resume(
    node: Node, move_id: str, connection: Peer | None = None, accepted: bool = False
) -> Move:
    """Go on from where the move was, as far as it can go now (see transfer.py's states).
    ``connection``: one open toward the move's peer already; ``accepted``: its answer to
    the offer just made said copying (the receiver is not asked again)."""
    with _running(node, move_id):  # one runner at a time: a command, a page's worker, a start
        move = get(node, move_id)
        if move.role != "out" or move.state not in OPEN:
            return move
        peer = transfer.peer_of(node, move)
        if connection is not None:
            return steps.run(node, move, peer, connection, accepted and move.state == "copying")
        with transfer.connect(node, peer) as opened:
            return steps.run(node, move, peer, opened)


@contextmanager
def _running(node: Node, move_id: str) -> Iterator[None]:
    """Hold the move's lock file (the served node and a command may both run a move): the
    second waits for the first, then finds the move where the first left it."""
    import fcntl

    folder = node.layout.root / "moving"
    folder.mkdir(parents=True, exist_ok=True)
    name = "".join(c for c in move_id if c.isalnum() or c in "-_")[:80] or "move"
    with open(folder / f"{name}.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)

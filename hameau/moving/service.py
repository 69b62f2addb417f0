"""TEMPORARY: replaced by move-core at merge.

A stand-in for move-core's hameau/moving/service.py, with exactly the names of the contract
(/work/wt/MOVING.md) that the moving pages call, so that they run and are tested on their own
branch: moves are kept in a JSON file of the data dir (no table: move-core's `moves`, migration
0019, is not here), nothing is sent to the peer, and a move stays where `_stub_set` (tests
only) puts it. Delete this file at merge and keep move-core's.
"""

from __future__ import annotations

import importlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hameau.errors import Conflict, NotFound
from hameau.node.db import transaction, utcnow

TEMPORARY = True  # the pages' tests that need a real second node skip while this is here
PARTS = ("files", "calendar", "notes", "messages", "ai", "accounts")
BYTES_PER_SECOND = 20 * 1024 * 1024
DATES = ("created_at", "accepted_at", "switched_at", "finished_at", "rollback_until")


@dataclass
class PartPlan:
    name: str
    items: int
    bytes: int


@dataclass
class MovePlan:
    member: str
    peer: str
    parts: list[PartPlan]
    total_bytes: int
    missing_bytes: int | None
    estimate_seconds: float


@dataclass
class Move:
    move_id: str
    role: str
    member_name: str
    peer_id: int
    state: str
    by: str
    bytes_total: int = 0
    bytes_sent: int = 0
    bytes_skipped: int = 0
    items_total: int = 0
    verified: int = 0
    error: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    accepted_at: datetime | None = None
    switched_at: datetime | None = None
    finished_at: datetime | None = None
    rollback_until: datetime | None = None


def _file(node: Any) -> Any:
    return node.layout.root / "moves-stub.json"


def _load(node: Any) -> list[Move]:
    if not _file(node).exists():
        return []
    rows = json.loads(_file(node).read_text())
    for row in rows:
        for name in DATES:
            row[name] = datetime.fromisoformat(row[name]) if row[name] else None
    return [Move(**row) for row in rows]


def _save(node: Any, found: list[Move]) -> None:
    rows = [asdict(move) for move in found]
    for row in rows:
        for name in DATES:
            row[name] = row[name].isoformat() if row[name] else None
    _file(node).write_text(json.dumps(rows))


def _peer(db: Any, peer_name: str) -> Any:
    from hameau.hamlet import service as hamlet

    peer = hamlet.find(db, peer_name)
    if peer.revoked_at is not None:
        raise Conflict("This home was left; pair with it again to call it.")
    return peer


def plan(node: Any, member_name: str, peer_name: str, ask_peer: bool = False) -> MovePlan:
    from hameau.accounts.members import find_member

    parts = []
    with transaction(node.sessions) as db:
        member, peer = find_member(db, member_name), _peer(db, peer_name)
        for name in PARTS:
            module = importlib.import_module(f"hameau.{name}.environment")
            used = module.usage(node, db, member)
            parts.append(PartPlan(name, used.rows, used.bytes))
        total = sum(part.bytes for part in parts)
        missing = total if ask_peer else None  # the stub's peer has nothing yet
        return MovePlan(member.name, peer.name, parts, total, missing, 5 + total / BYTES_PER_SECOND)


def start(node: Any, member_name: str, peer_name: str, *, by: str) -> Move:
    made = plan(node, member_name, peer_name)
    with transaction(node.sessions) as db:
        peer_id = _peer(db, peer_name).id
    found = _load(node)
    if any(m.member_name == member_name and m.state in ("waiting", "copying") for m in found):
        raise Conflict("A move of this member is already under way.")
    items = sum(part.items for part in made.parts)
    move = Move(uuid.uuid4().hex[:20], "out", member_name, peer_id, "waiting", by,
                bytes_total=made.total_bytes, items_total=items)  # fmt: skip
    _save(node, [move, *found])
    return move


def moves(node: Any, member_name: str | None = None) -> list[Move]:
    found = _load(node)
    return [move for move in found if member_name in (None, move.member_name)]


def get(node: Any, move_id: str) -> Move:
    for move in _load(node):
        if move.move_id == move_id:
            return move
    raise NotFound("No move has this number here.")


def _stub_set(node: Any, move_id: str, **values: Any) -> Move:
    """Tests only (the stub's): put a move in the state a real one would reach."""
    found = _load(node)
    move = next(move for move in found if move.move_id == move_id)
    for name, value in values.items():
        setattr(move, name, value)
    _save(node, found)
    return move


def _stub_receive(node: Any, member_name: str, peer_id: int, bytes_total: int) -> Move:
    """Tests only (the stub's): a move toward this node, waiting for its admins."""
    move = Move(uuid.uuid4().hex, "in", member_name, peer_id, "waiting", "member",
                bytes_total=bytes_total)  # fmt: skip
    _save(node, [move, *_load(node)])
    return move


def accept(node: Any, move_id: str, *, by: str) -> Move:
    return _stub_set(node, get(node, move_id).move_id, state="copying", accepted_at=utcnow())


def refuse(node: Any, move_id: str, *, by: str, why: str = "") -> Move:
    return _stub_set(node, get(node, move_id).move_id, state="refused", error=why or None)


def rollback(node: Any, member_name: str) -> Move:
    """As move-core's: run at the member's new home, a move back to the home they left."""
    found = [m for m in moves(node, member_name) if m.state == "done" and m.role == "in"]
    if not found:
        raise Conflict("This member has no move to roll back.")
    with transaction(node.sessions) as db:
        from hameau.hamlet.models import HamletPeer

        peer = db.get(HamletPeer, found[0].peer_id)
        assert peer is not None
        name = peer.name
    return start(node, member_name, name, by="rollback")


def resume(node: Any, move_id: str) -> Move:
    """The stub runs nothing: the move stays where it is."""
    return get(node, move_id)

"""The sender's loop over its move's states (see hameau/moving/transfer.py): each turn does
one step and records it, so a move cut anywhere goes on from its row."""

from __future__ import annotations

from typing import Any

from hameau.hamlet.models import HamletPeer
from hameau.hamlet.watched import PEER_ERRORS
from hameau.moving import transfer
from hameau.moving.models import Move
from hameau.node.datadir import Node
from hameau.node.db import utcnow
from hameau.node.peer import Peer, PeerFailed


def offer(node: Node, move: Move, peer: HamletPeer, connection: Peer | None = None) -> Move:
    """The offer to the receiver (again if it was lost); its answer says if it accepted.
    ``connection``: the command's own, kept for the rest of the move (one TLS handshake)."""
    given = {
        "move_id": move.move_id, "member": move.member_name, "by": move.by,
        "member_since": move.member_since.isoformat() if move.member_since else None,
        "bytes_total": move.bytes_total, "items_total": move.items_total,
        "rollback_of": move.rollback_of,
    }  # fmt: skip
    try:
        if connection is not None:
            answer = connection.call("POST", transfer.API, json=given)
        else:
            with transfer.connect(node, peer) as connection:
                answer = connection.call("POST", transfer.API, json=given)
    except PeerFailed as failed:
        if failed.code is not None and 400 <= failed.code < 500:
            transfer.abandon(node, move, "failed", str(failed))
        raise
    return learn(node, move, answer)


def learn(node: Node, move: Move, answer: dict[str, object]) -> Move:
    """While waiting: the receiver's acceptance or refusal."""
    state = str(answer.get("state"))
    if state == "copying":
        return transfer.update(node, move.id, state="copying", accepted_at=utcnow())
    if state in ("refused", "failed"):
        return transfer.abandon(node, move, state, str(answer.get("error") or ""))
    return move


def _waiting(node: Node, move: Move, peer: HamletPeer, connection: Peer) -> Move:
    there = transfer.status_at(connection, move)
    if there is None:  # the offer was lost (this node was cut right after recording it)
        return offer(node, move, peer, connection)
    return learn(node, move, there)


def _switching(
    node: Node, move: Move, peer: HamletPeer, connection: Peer, known: bool = False
) -> Move:
    """Frozen here: finish if the receiver committed, let go if it gave up for good, else
    send the last changes and ask it to commit. ``known``: this run froze the member right
    after the receiver answered a stream as copying, so it is not asked again."""
    if not known:
        move = outcome(node, move, connection)
        if move.state != "switching":
            return move
    usages = node.assembled["environment"]().usage_by_part(node, move.member_name)
    move = transfer.update(node, move.id, parts=parts_of(usages))  # frozen: final
    move, archive = transfer.last_changes(node, move, connection)
    try:
        done = connection.call(
            "POST", f"{transfer.API}/{move.move_id}/commit", json={"archive": archive}
        )
    except PeerFailed:
        # Whatever the answer, only the receiver's own row says what happened: ask it.
        there = transfer.status_at(connection, move)
        if there is not None and there.get("state") == "done":
            return transfer.finish(node, move, peer, there)
        if there is not None and there.get("state") == "failed":
            return transfer.abandon(node, move, "failed", str(there.get("error") or ""))
        raise
    return transfer.finish(node, move, peer, done)


def parts_of(usages: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """What moves per app (each part's usage), as a move's row keeps it for its report."""
    return [{"name": name, "items": usage.rows, "bytes": usage.bytes} for name, usage in usages]


def outcome(node: Node, move: Move, connection: Peer | None = None) -> Move:
    """Frozen here: only learn what the receiver did (done: let go; failed or unknown there:
    the member is home here again); anything else waits for `resume`."""
    peer = transfer.peer_of(node, move)
    if connection is not None:
        there = transfer.status_at(connection, move)
    else:
        with transfer.connect(node, peer) as connection:
            there = transfer.status_at(connection, move)
    if there is not None and there.get("state") == "done":
        return transfer.finish(node, move, peer, there)
    if there is None or there.get("state") in ("failed", "refused"):
        why = str((there or {}).get("error") or "the receiving home does not know this move")
        return transfer.abandon(node, move, "failed", why)
    return move


def run(node: Node, move: Move, peer: HamletPeer, connection: Peer, accepted: bool = False) -> Move:
    """As far as the move can go now: done, refused, failed, or still waiting for the
    receiver's acceptance. A peer that cannot be reached raises PEER_ERRORS; the row says
    where the move is, for the next `resume`. ``accepted``: the receiver's answer to this
    run's offer said copying, so it is not asked again (one round trip less)."""
    copied = False  # the receiver answered this run's streams: it was copying just now
    while True:
        if move.state == "waiting":
            move = _waiting(node, move, peer, connection)
            if move.state == "waiting":
                return move
            accepted = True
        elif move.state == "copying":
            if not accepted:
                there = transfer.status_at(connection, move)
                if there is None or there.get("state") != "copying":
                    return _waiting(
                        node, transfer.update(node, move.id, state="waiting"), peer, connection
                    )
            move = transfer.copy(node, move, connection)
            move = transfer.freeze(node, move)
            copied = True
        elif move.state == "switching":
            return _switching(node, move, peer, connection, known=copied)
        else:
            return move


__all__ = ["PEER_ERRORS", "offer", "run"]

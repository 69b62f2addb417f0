"""Notes' side of travel sync (see hameau/node/syncing.py for the contract).

Each note is a CRDT document: the satellite offers each note's state vector, home answers
with what each copy lacks and its own state vector, the satellite merges home's updates and
pushes back what home lacks. A note deleted on one side and edited on the other (an edit
the deleting side had not seen) comes back.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy.orm import Session

from hameau.accounts import members
from hameau.node.datadir import Node
from hameau.node.db import retrying
from hameau.node.syncing import Trip
from hameau.notes import service as notes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def changes_since(node: Node, member: str, cursor: Any = None) -> list[dict[str, Any]]:
    """Every note's state vector here (what it has seen says what it lacks: no cursor)."""
    with node.sessions() as session:
        who = members.find_member(session, member)
        return [
            {
                "uid": note.uid,
                "state_vector": _b64(notes.sync_state(session, note).state_vector),
                "deleted": note.deleted_at is not None,
            }
            for note in notes.all_of(session, who)
        ]


def apply(node: Node, member: str, changes: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge home's answers to an offer here; returns `pushes` (what home lacks) and how
    many notes changed here (`pulled`)."""
    done: dict[str, Any] = {}

    def work(session: Session) -> None:
        done.update(pushes=[], pulled=0)
        who = members.find_member(session, member)
        for reply in changes:
            _merge_one(session, who, reply, done)
        answered = {reply["uid"] for reply in changes}
        for note in notes.all_of(session, who):
            if note.uid not in answered:  # made here: all of it goes home
                done["pushes"].append({
                    "uid": note.uid, "update": _b64(notes.update_since(session, note, None)),
                    "deleted": note.deleted_at is not None, "seen": "",
                })  # fmt: skip

    retrying(node.sessions, work)
    return done


def _merge_one(session: Session, who: Any, reply: dict[str, Any], done: dict[str, Any]) -> None:
    uid = reply["uid"]
    note = notes.by_uid(session, who, uid)
    before = notes.sync_state(session, note).digest if note else None
    here_deleted = note is not None and note.deleted_at is not None
    note = notes.receive(session, who, uid, base64.b64decode(reply["update"]), None)
    after = notes.sync_state(session, note)
    home_news = before is None or after.digest != before
    here_news = after.digest != reply["digest"]
    there_deleted = reply["deleted"]
    if before is None:
        deleted = there_deleted
    else:  # an edit the deleting side had not seen beats the deletion
        deleted = (there_deleted and (here_deleted or not here_news)) or (
            here_deleted and not home_news
        )
    if deleted != (note.deleted_at is not None):
        notes.receive(session, who, uid, b"\x00\x00", deleted)
    if home_news or (deleted != here_deleted):
        done["pulled"] += 1
    if here_news or deleted != there_deleted:
        update = notes.update_since(session, note, base64.b64decode(reply["state_vector"]))
        done["pushes"].append({
            "uid": uid, "update": _b64(update), "deleted": deleted, "seen": reply["digest"],
        })  # fmt: skip


def exchange(trip: Trip) -> bool:
    """Offer every note's state vector, merge home's answers, push what home lacks."""
    offers = changes_since(trip.node, trip.member)
    replies = trip.home.call("POST", "/api/travel/notes/offer", json={"notes": offers})["notes"]
    done = apply(trip.node, trip.member, replies)
    trip.report.pulled += done["pulled"]
    pushes = done["pushes"]
    for start in range(0, len(pushes), 200):
        trip.home.call(
            "POST", "/api/travel/notes/push", json={"notes": pushes[start : start + 200]}
        )
    trip.report.pushed += len(pushes)
    return bool(pushes)

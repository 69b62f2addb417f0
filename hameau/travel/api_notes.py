"""The home node's side of notes sync, for a member's satellite: each side offers its state
vectors, gets back the updates it lacks, and pushes its own; a deletion decided on a copy
that has moved on since does not stand. Bearer token: the satellite's app password.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from hameau.errors import BadRequest, Conflict
from hameau.footprint.meter import metered
from hameau.notes import service as notes
from hameau.travel.api import MAX_BATCH
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.openapi import errors

router = APIRouter(prefix="/api/travel", tags=["travel"])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Notes' sync data must be base64.") from None


class NoteOffer(BaseModel):
    uid: str = Field(min_length=1, max_length=32)
    state_vector: str  # base64
    deleted: bool


class NoteOffers(BaseModel):
    notes: list[NoteOffer] = Field(max_length=MAX_BATCH)


@router.post("/notes/offer", responses=errors(400))
@metered("sync")
async def notes_offer(db: DB, visitor: MemberVisitor, body: NoteOffers) -> dict[str, Any]:
    """For each of the member's notes (and each offered): what the satellite's copy lacks,
    this copy's state vector and text hash, and whether it is deleted here."""
    member = member_of(visitor)
    offered = {offer.uid: _unb64(offer.state_vector) for offer in body.notes}
    replies = []
    for note in notes.all_of(db, member):
        state = notes.sync_state(db, note)
        replies.append({
            "uid": note.uid,
            "update": _b64(notes.update_since(db, note, offered.get(note.uid))),
            "state_vector": _b64(state.state_vector),
            "digest": state.digest,
            "deleted": note.deleted_at is not None,
        })  # fmt: skip
    return {"notes": replies}


class NotePush(BaseModel):
    uid: str = Field(min_length=1, max_length=32)
    update: str  # base64
    deleted: bool
    seen: str = Field(max_length=64)  # this copy's text hash when the satellite decided


class NotePushes(BaseModel):
    notes: list[NotePush] = Field(max_length=MAX_BATCH)


@router.post("/notes/push", status_code=204, responses=errors(400, 409))
@metered("sync")
async def notes_push(db: DB, visitor: MemberVisitor, body: NotePushes) -> None:
    """Merge the satellite's updates; a deletion decided on an older copy does not stand."""
    member = member_of(visitor)
    for push in body.notes:
        note = notes.by_uid(db, member, push.uid)
        moved_on = note is not None and notes.sync_state(db, note).digest != push.seen
        deleted = None if moved_on and push.deleted else push.deleted
        try:
            with db.begin_nested():
                notes.receive(db, member, push.uid, _unb64(push.update), deleted)
        except IntegrityError:  # the uid is another member's note: say nothing of it
            raise Conflict(
                "The note id %(uid)s is taken by a note that is not yours; nothing was changed.",
                uid=push.uid,
            ) from None

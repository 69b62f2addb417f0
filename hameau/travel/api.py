"""The home node's side of sync, for a member's satellite: what changed in a file space
since a sequence number, and content by hash (only content the member may read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from hameau.errors import NotFound
from hameau.files import journal
from hameau.files.api import BlobResponse
from hameau.files.journal import SyncEntry
from hameau.web.auth import DB, MemberVisitor, member_of

router = APIRouter(prefix="/api/travel", tags=["travel"])


class Change(BaseModel):
    path: str
    vector: dict[str, int]
    blob: str | None  # None: deleted
    size: int
    seq: int


class Changes(BaseModel):
    replica: str
    changes: list[Change]
    last: int  # ask again with since=last


def _owner(space: str, member_id: int) -> int | None:
    if space == "mine":
        return member_id
    if space == "household":
        return None
    raise NotFound("There is no file space called '%(key)s'.", key=space)


@router.get("/files/{space}/changes")
async def changes(
    db: DB,
    visitor: MemberVisitor,
    space: str,
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Changes:
    """Every path of the space whose state changed after sequence ``since``, oldest first."""
    found = journal.changes_since(db, _owner(space, member_of(visitor).id), since)[:limit]
    listed = [
        Change(path=e.path, vector=e.vector, blob=e.blob, size=e.size, seq=e.seq) for e in found
    ]
    return Changes(
        replica=journal.replica(db), changes=listed, last=listed[-1].seq if listed else since
    )


@router.get("/blobs/{digest}", response_model=None)
async def blob(request: Request, db: DB, visitor: MemberVisitor, digest: str) -> Response:
    """Content by its hash, if it is (or was) at a path of the member's or the household's."""
    spaces = (journal.space_key(member_of(visitor).id), journal.space_key(None))
    known = db.scalar(
        select(SyncEntry.id).where(SyncEntry.blob == digest, SyncEntry.space.in_(spaces))
    )
    store = request.app.state.node.blobs
    if known is None or len(digest) != 64 or not store.exists(digest):
        raise NotFound("No such content.")
    return BlobResponse(store.path(digest), media_type="application/octet-stream")

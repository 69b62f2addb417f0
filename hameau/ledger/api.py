"""The ledger's routes for paired homes (signed requests only, like every route under
/api/hamlet/): the positions after a number, for a replica to pull; and the nudge a notary
sends after sealing, which makes this node pull from it."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from hameau.hamlet.api import SignedPeer, _answer
from hameau.ledger import replica
from hameau.web.auth import DB
from hameau.web.openapi import errors

router = APIRouter(prefix="/api/hamlet/ledger", tags=["hamlet"])


class Signed(BaseModel):
    notary: str
    entry_hash: str
    signature: str


class Position(BaseModel):
    seq: int
    entry: str = Field(description="The canonical JSON its author signed.")
    signature: str
    prev_hash: str
    entry_hash: str
    signatures: list[Signed] = Field(description="The notaries' signatures of this position.")


class Page(BaseModel):
    head: int = Field(description="The last position this node holds.")
    positions: list[Position]


class Nudged(BaseModel):
    pulling: bool


@router.get("/positions", response_model=Page, responses=errors(401, 403))
async def positions(
    request: Request,
    db: DB,
    peer: SignedPeer,
    after: int = Query(0, ge=0, le=2**31, description="Positions after this one."),
) -> Response:
    """The positions after `after`, in order, with their notaries' signatures (a page)."""
    return _answer(request, Page.model_validate(replica.page_after(db, after)))


@router.post("/nudge", response_model=Nudged, responses=errors(401, 403))
async def nudge(request: Request, peer: SignedPeer) -> Response:
    """A notary sealed a position: pull from it, once, beside the request."""
    from hameau.ledger import pull

    node = request.app.state.node
    name = peer.node_id
    threading.Thread(target=_quietly, args=(pull.sync, node, name), daemon=True).start()
    return _answer(request, Nudged(pulling=True))


def _quietly(work, *args) -> None:  # type: ignore[no-untyped-def]
    import logging

    try:
        work(*args)
    except Exception as error:  # a nudge is best effort; the log says why
        logging.getLogger(__name__).warning("ledger pull after a nudge failed: %s", error)

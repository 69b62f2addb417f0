"""The ledger's routes for paired homes (signed requests only, like every route under
/api/hamlet/): the positions after a number, for a replica to pull; and the nudge a notary
sends after sealing, which makes this node pull from it."""

from __future__ import annotations

import threading

import anyio.to_thread
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from hameau.errors import BadRequest
from hameau.hamlet.api import SignedPeer, _answer
from hameau.ledger import replica
from hameau.node.datadir import Node
from hameau.web.auth import DB
from hameau.web.openapi import errors

router = APIRouter(prefix="/api/hamlet/ledger", tags=["hamlet"])


class Signed(BaseModel):
    notary: str
    entry_hash: str
    signature: str
    round: int = Field(0, description="The round the notary signed in (0: the first).")


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


class EntryIn(BaseModel):
    entry: str = Field(min_length=2, max_length=20_000, description="The canonical JSON signed.")
    signature: str = Field(min_length=1, max_length=100)
    round: int = Field(0, ge=0, le=2**31, description="The round the sender believes current.")


class Sequenced(BaseModel):
    seq: int | None = Field(default=None, description="The position the entry is final at.")
    entry_hash: str | None = None
    round: int | None = Field(
        default=None, description="Not sequenced here: the round whose proposer sequences now."
    )
    stale: bool | None = Field(
        default=None, description="Signed before the last final entry's time: sign it again."
    )


ENTRY_BODY = {
    "required": True,
    "content": {"application/json": {"schema": EntryIn.model_json_schema()}},
}


@router.post(
    "/entries",
    response_model=Sequenced,
    responses=errors(400, 401, 403, 409, 502),
    openapi_extra={"requestBody": ENTRY_BODY},
)
async def entries(request: Request, db: DB, peer: SignedPeer) -> Response:
    """An entry a member of the asking home signed: checked by the rules and sealed at the
    next position by this notary (403 if it is not the sequencing notary)."""
    from hameau.ledger import journal, rules
    from hameau.ledger.errors import refused

    try:
        given = EntryIn.model_validate_json(await request.body())
    except ValidationError:
        raise BadRequest("A ledger entry needs its signed text and its signature.") from None
    node = request.app.state.node

    def sequenced() -> Sequenced:  # in a thread: with several notaries, it calls them
        from hameau.ledger import notarise

        text = given.entry.encode()
        if notarise.several(journal.head(db)):
            db.rollback()  # the proposer works in a transaction of its own
            led = notarise.lead(node, text, given.signature, given.round)
            return Sequenced(
                seq=led.seq, entry_hash=led.entry_hash or None, round=led.round,
                stale=led.stale or None,
            )  # fmt: skip
        done = journal.sequence(node, db, text, given.signature)
        return Sequenced(seq=done.position.seq, entry_hash=done.position.entry_hash)

    try:
        answer = await anyio.to_thread.run_sync(sequenced)
    except rules.Refused as refusal:
        db.rollback()
        raise refused(refusal.reason) from refusal
    except Exception:
        db.rollback()
        raise
    db.commit()
    if answer.seq is not None:
        _nudge_others(node, peer.node_id)
    return _answer(request, answer)


class Prepared(BaseModel):
    seq: int = Field(ge=1, le=2**31)
    round: int = Field(ge=0, le=2**31)


class Promised(BaseModel):
    promised: int | None = Field(None, description="The round promised.")
    accepted: dict | None = Field(None, description="The vote held there: round, position.")
    refused: str | None = Field(None, description="ahead or promised (a higher round).")
    head: int | None = None
    round: int | None = Field(None, description="The higher round promised.")


PREPARE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": Prepared.model_json_schema()}},
}


@router.post(
    "/prepare",
    response_model=Promised,
    responses=errors(400, 401, 403),
    openapi_extra={"requestBody": PREPARE_BODY},
)
async def prepare(request: Request, db: DB, peer: SignedPeer) -> Response:
    """A round's proposer asks this notary to vote in no lower round at a number; it answers
    with the position it voted there, if any (several notaries: docs/credit.md)."""
    from hameau.ledger import acceptor

    try:
        given = Prepared.model_validate_json(await request.body())
    except ValidationError:
        raise BadRequest("A round to promise needs its number and round.") from None
    node = request.app.state.node
    try:
        answer = await anyio.to_thread.run_sync(
            acceptor.prepare, node, db, peer, given.model_dump()
        )
    finally:
        db.rollback()  # a notary's promise is a file (votes.py)
    return _answer(request, Promised.model_validate(answer))


class Proposed(BaseModel):
    seq: int = Field(ge=1, le=2**31)
    round: int = Field(0, ge=0, le=2**31)
    proposal: str = Field("", max_length=100, description="The proposer's signature of it.")
    entry: str = Field(min_length=2, max_length=20_000)
    signature: str = Field(min_length=1, max_length=100)
    prev_hash: str = Field(min_length=64, max_length=64)
    entry_hash: str = Field(min_length=64, max_length=64)
    before: list[Position] | None = Field(
        None, max_length=replica.PAGE, description="Final positions the co-signer lacks."
    )


class Cosigned(BaseModel):
    notary: str | None = None
    signature: str | None = Field(None, description="This notary's signature of the position.")
    round: int | None = Field(None, description="The round signed in, or promised instead.")
    refused: str | None = Field(None, description="ahead, behind or promised (a higher round).")
    head: int | None = None


COSIGN_BODY = {
    "required": True,
    "content": {"application/json": {"schema": Proposed.model_json_schema()}},
}


@router.post(
    "/cosign",
    response_model=Cosigned,
    responses=errors(400, 401, 403, 409, 502),
    openapi_extra={"requestBody": COSIGN_BODY},
)
async def cosign(request: Request, db: DB, peer: SignedPeer) -> Response:
    """A round's proposer proposes a position: this notary checks it against its replica,
    records its vote and signs it in that round (several notaries: docs/credit.md); a second
    position in one round is refused (409)."""
    from hameau.ledger import acceptor

    try:
        given = Proposed.model_validate_json(await request.body())
    except ValidationError:
        raise BadRequest("A position to co-sign needs its number, entry and hashes.") from None
    node = request.app.state.node
    try:
        answer = await anyio.to_thread.run_sync(acceptor.cosign, node, db, peer, given.model_dump())
    finally:
        db.rollback()  # a co-signer writes only its vote (a file) and what it pulled
    return _answer(request, Cosigned.model_validate(answer))


def _nudge_others(node: Node, but: str) -> None:
    """Tell the other paired homes a position is sealed, beside the request."""
    from hameau.ledger import nudges

    threading.Thread(target=_quietly, args=(nudges.send, node, but), daemon=True).start()


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

"""The receiving node's routes of a move, for paired peers only (signed requests, signed
answers: hameau/hamlet/api.py): the offer, its state, which contents it lacks, the streams
of content, and the commit. Heavy work (hashing, storing, the import) runs in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from hameau.errors import BadRequest, Forbidden
from hameau.hamlet.answers import signed_answer
from hameau.hamlet.api import SignedPeer, SignedStream, _incoming
from hameau.hamlet.models import HamletPeer
from hameau.hamlet.signing import INDEX
from hameau.moving import receiving, stream
from hameau.moving.errors import MoveNotFound, PieceRefused
from hameau.moving.models import Move
from hameau.node import json_input
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.web.openapi import binary, errors

router = APIRouter(prefix="/api/hamlet/moves", tags=["moving"])


class MoveState(BaseModel):
    move_id: str
    state: str = Field(description="waiting, refused, copying, switching, done, failed …")
    verified: int = Field(description="Contents of this move verified at arrival here.")
    error: str | None = None


class Lacking(BaseModel):
    lacking: dict[str, int] = Field(
        description="Each content this node lacks, with the bytes of it it has already."
    )


class Offer(BaseModel):
    move_id: str = Field(min_length=8, max_length=40, pattern=r"^[0-9a-f]+$")
    member: str = Field(min_length=1, max_length=40)
    by: str = Field(default="admin", max_length=20)
    member_since: str | None = Field(default=None, max_length=40)
    bytes_total: int = Field(default=0, ge=0)
    items_total: int = Field(default=0, ge=0)
    rollback_of: str | None = Field(default=None, max_length=40)


class Commit(BaseModel):
    archive: str = Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")


def _answer(request: Request, data: BaseModel) -> Response:
    identity = request.app.state.node.identity
    return signed_answer(data, _incoming(request), identity, request.state.hamlet_nonce)


def _state(move: Move) -> MoveState:
    return MoveState(
        move_id=move.move_id, state=move.state, verified=move.verified, error=move.error
    )


def _body(model: type[BaseModel], body: bytes, refusal: BadRequest) -> Any:
    try:
        return model.model_validate_json(body)
    except ValueError:
        raise refusal from None


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}  # fmt: skip


@router.post(
    "", response_model=MoveState, responses=errors(400, 401, 403, 404, 409, 507),
    openapi_extra=_json(Offer),
)  # fmt: skip
async def offer(request: Request, peer: SignedPeer) -> Response:
    """A paired home offers a member's move here: accepted at once by this home's standing
    rule (or when it undoes a move from here), else waiting for an admin."""
    given = _body(
        Offer, await request.body(), BadRequest("A move's offer needs its id and the member.")
    )
    node: Node = request.app.state.node

    def record() -> Move:
        with transaction(node.sessions) as session:
            move = receiving.offer(node, session, session.merge(peer), given.model_dump())
            session.flush()
            session.expunge(move)
            return move

    return _answer(request, _state(await run_in_threadpool(record)))


def _find(node: Node, peer: HamletPeer, move_id: str) -> Move:
    with node.sessions() as session:
        move = receiving.find(session, peer, move_id)
        session.expunge(move)
        return move


def _hashes(body: bytes) -> list[str]:
    try:
        hashes = json_input.loads(body)
        if isinstance(hashes, list) and all(isinstance(item, str) for item in hashes):
            return hashes[: receiving.MOST_ITEMS]
    except ValueError:
        pass
    raise BadRequest("Give the contents' names as a JSON list of SHA-256 hashes.")


HASH_LIST = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "array", "items": {"type": "string"}}}}}}  # fmt: skip


@router.post(
    "/plan/lacking",
    response_model=Lacking,
    responses=errors(400, 401, 403),
    openapi_extra=HASH_LIST,
)
async def lacking_here(request: Request, peer: SignedPeer) -> Response:
    """Of these contents, those this home lacks (a move's plan asks before any move); only
    to the homes its standing rule accepts: what a home holds is not told to any peer."""
    hashes = _hashes(await request.body())
    node = request.app.state.node
    if not receiving.accepts_from(node, peer.name):
        raise Forbidden("This home tells what it holds only for a move it accepted.")
    probe = Move(move_id="plan", state="copying")
    return _answer(request, Lacking(lacking=receiving.lacking(node, probe, hashes)))


def _outgoing(node: Node, peer: HamletPeer, move_id: str) -> Move:
    with node.sessions() as session:
        move = session.scalar(
            select(Move).where(Move.move_id == move_id, Move.role == "out", Move.peer_id == peer.id)
        )
        if move is None:
            raise MoveNotFound("No move %(move)s to your home is known here.", move=move_id[:40])
        session.expunge(move)
        return move


@router.post("/{move_id}/accepted", response_model=MoveState, responses=errors(401, 403, 404))
async def accepted(request: Request, peer: SignedPeer, move_id: str) -> Response:
    """The receiving home accepted this home's move: it runs now, in a worker of its own
    (the move asks the receiver for its state itself: this nudge changes no state)."""
    move = await run_in_threadpool(_outgoing, request.app.state.node, peer, move_id)
    drives = getattr(request.app.state, "moving_drives", None)
    if drives is not None:
        drives.drive(move, asked=True)
    return _answer(request, _state(move))


@router.get("/{move_id}", response_model=MoveState, responses=errors(401, 403, 404))
async def state(request: Request, peer: SignedPeer, move_id: str) -> Response:
    """Where this move is, here."""
    return _answer(request, _state(_find(request.app.state.node, peer, move_id)))


@router.post(
    "/{move_id}/lacking", response_model=Lacking, responses=errors(400, 401, 403, 404),
    openapi_extra=HASH_LIST,
)  # fmt: skip
async def lacking(request: Request, peer: SignedPeer, move_id: str) -> Response:
    """Of these contents of the move, those this home lacks, with the bytes it has of each."""
    hashes = _hashes(await request.body())
    node = request.app.state.node
    move = _find(node, peer, move_id)
    found = await run_in_threadpool(receiving.lacking, node, move, hashes)
    return _answer(request, Lacking(lacking=found))


CONTENTS = {"requestBody": {"required": True, **binary(
    "A JSON index line (its digest signed), then each record's bytes.")}}  # fmt: skip
BLOCK = 4 << 20  # bytes handed to the worker thread at a time


async def _index(chunks: AsyncIterator[bytes], signed: str | None) -> tuple[list[Any], bytes]:
    """The stream's index (checked against its signed digest), and the bytes after it."""
    head = bytearray()
    async for chunk in chunks:
        head += chunk
        if (end := head.find(b"\n")) >= 0:
            return stream.parse_index(bytes(head[:end]), signed), bytes(head[end + 1 :])
        if len(head) > stream.INDEX_LIMIT:
            break
    raise PieceRefused("These pieces of content are not described as a move sends them.")


async def _blocks(chunks: AsyncIterator[bytes], first: bytes) -> AsyncIterator[list[bytes]]:
    """The body's chunks, in lists of about BLOCK bytes (not joined: no copy)."""
    block, size = [first], len(first)
    async for chunk in chunks:
        block.append(chunk)
        size += len(chunk)
        if size >= BLOCK:
            yield block
            block, size = [], 0
    if size:
        yield block


def _feed(arrival: stream.Arrival, block: list[bytes]) -> None:
    for chunk in block:
        arrival.feed(chunk)


async def _drain(chunks: AsyncIterator[bytes], most: int) -> None:
    """A refused stream read to its end (at most what its index announced), so that the
    sender reads the refusal rather than a connection cut while it writes."""
    try:
        async for chunk in chunks:
            most -= len(chunk)
            if most < 0:
                return
    except ClientDisconnect:
        return


async def _store(chunks: AsyncIterator[bytes], first: bytes, arrival: stream.Arrival) -> None:
    """Each block hashed and written in a worker while the next one arrives."""
    pending: asyncio.Future[None] | None = None
    try:
        async for block in _blocks(chunks, first):
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(run_in_threadpool(_feed, arrival, block))
        if pending is not None:
            await pending
        await run_in_threadpool(arrival.finish)
    except BaseException as error:
        if pending is not None and not pending.done():
            await asyncio.wait([pending])
        if not isinstance(error, ClientDisconnect | PieceRefused):
            await run_in_threadpool(arrival.abort)
            raise
        await run_in_threadpool(arrival.cut)  # what came whole and verified is kept
        if isinstance(error, PieceRefused):
            await _drain(chunks, stream.length(arrival.items) - arrival.received)
        raise


@router.post(
    "/contents/{move_id}", response_model=MoveState,
    responses=errors(400, 401, 403, 404, 409, 507), openapi_extra=CONTENTS,
)  # fmt: skip
async def contents(request: Request, peer: SignedStream, move_id: str) -> Response:
    """A stream of the move's contents (hameau/moving/stream.py): each record is hashed as
    it arrives and stored only if it hashes to its name; the whole ones are durable before
    this answer counts them."""
    node: Node = request.app.state.node
    move = await run_in_threadpool(_find, node, peer, move_id)
    chunks = request.stream()
    items, first = await _index(chunks, request.headers.get(INDEX))
    arrival = receiving.arrival(node, move, items)
    try:
        await _store(chunks, first, arrival)
    finally:  # a refused or cut stream's whole records count too
        counted = (node, move, arrival.verified, arrival.received)
        found = await run_in_threadpool(receiving.arrived, *counted)
    return _answer(request, _state(found))


@router.post(
    "/{move_id}/commit", response_model=MoveState,
    responses=errors(400, 401, 403, 404, 409, 507), openapi_extra=_json(Commit),
)  # fmt: skip
async def commit(request: Request, peer: SignedPeer, move_id: str) -> Response:
    """The switch: the member's environment imported here (its contents all arrived) and
    this home made theirs, in one transaction; a commit done already answers so."""
    given = _body(
        Commit, await request.body(), BadRequest("A commit names the move's archive by its hash.")
    )
    node: Node = request.app.state.node
    await run_in_threadpool(receiving.commit, node, peer, move_id, given.archive)
    return _answer(request, _state(_find(node, peer, move_id)))

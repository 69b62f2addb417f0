"""The routes by which paired homes hand this node jobs to run (signed requests only, like
every route under /api/hamlet/): whether it takes a job now, the job's content in pieces,
starting a run, the run's state with its signed receipt, its outputs in pieces, and the
asker's word on what the run was paid."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from hameau.compute import provider
from hameau.compute.errors import JobNotFound, JobRefused
from hameau.compute.models import ComputeProvided
from hameau.hamlet.answers import signed_content
from hameau.hamlet.api import SignedPeer, _answer, _incoming
from hameau.hamlet.models import HamletPeer
from hameau.web.auth import DB
from hameau.web.openapi import errors

router = APIRouter(prefix="/api/hamlet/compute", tags=["hamlet"])
DIGEST = r"^[0-9a-f]{64}$"
RUN = r"^[0-9a-f]{32}$"


class AskIn(BaseModel):
    memory_bytes: int = Field(ge=1, le=1 << 40)
    fuel: int = Field(ge=1, le=1 << 60)
    price_max: int = Field(ge=0, le=1 << 40)


class Offered(BaseModel):
    accepts: bool
    reason: str = Field(description="Why not, when it does not take the job (English).")
    price: int = Field(description="Cents of credit per million fuel.")
    memory_bytes: int
    max_fuel: int


class Held(BaseModel):
    held: int = Field(description="Bytes of this content this node holds (all once stored).")


class FileOut(BaseModel):
    name: str
    digest: str
    size: int


class RunIn(BaseModel):
    run: str = Field(pattern=RUN)
    job: str = Field(pattern=RUN)
    module: str = Field(pattern=DIGEST)
    inputs: list[FileOut] = Field(max_length=1000)
    args: list[str] = Field(max_length=100)
    seed: int = Field(ge=0, le=2**63)
    memory_bytes: int = Field(ge=1, le=1 << 40)
    fuel: int = Field(ge=1, le=1 << 60)
    wall_seconds: int = Field(ge=1, le=7 * 86400)
    price: int = Field(ge=0, le=1 << 40)
    escrow: str = Field(max_length=64)


class RunOut(BaseModel):
    state: str = Field(description="running, done or failed")
    status: str = Field(description="The sandbox's outcome (ok, fuel, trap …), once done.")
    reason: str
    receipt: str = Field(description="The receipt's text, signed by this node's key.")
    signature: str
    outputs: list[FileOut]
    cpu_seconds: float = Field(
        0.0,
        ge=0,
        description="CPU seconds the run took here: the footprint's figure, not the bill.",
    )


class SettledIn(BaseModel):
    verdict: str = Field(pattern=r"^(agreed|disagreed)$")
    paid_cents: int = Field(ge=0, le=1 << 40)


class Noted(BaseModel):
    noted: bool


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The raw body's schema (it is read raw: its digest is signed); nested models refer to
    the description's components (FileOut is one: RunOut answers with it)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _parsed(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError:
        raise JobRefused("This request does not describe a job as this home expects.") from None


def _run_of(db: DB, peer: HamletPeer, run: str) -> ComputeProvided:
    row = db.scalars(select(ComputeProvided).where(ComputeProvided.run == run)).first()
    if row is None or row.asker != peer.node_id:
        raise JobNotFound("This home runs no such job for yours.")
    return row


@router.post(
    "/offer", response_model=Offered, responses=errors(400, 401, 403), openapi_extra=_body(AskIn)
)
async def offer(request: Request, db: DB, peer: SignedPeer) -> Response:
    """Whether this node takes a job of this size now (its offer, its owner's idleness)."""
    given = await _parsed(request, AskIn)
    node = request.app.state.node
    found = await anyio.to_thread.run_sync(
        provider.offer_answer, node, db, given.memory_bytes, given.fuel, given.price_max
    )
    db.commit()
    return _answer(request, Offered(**found))


@router.put("/content/{digest}", response_model=Held, responses=errors(400, 401, 403, 413))
async def content(
    request: Request,
    peer: SignedPeer,
    digest: str,
    offset: int = Query(ge=0, le=1 << 40),
    total: int = Query(ge=0, le=1 << 40),
) -> Response:
    """A piece of a job's content (a module or an input), at `offset` of `total` bytes."""
    body = await request.body()
    node = request.app.state.node
    held = await anyio.to_thread.run_sync(provider.receive, node, digest, offset, total, body)
    return _answer(request, Held(held=held))


@router.post(
    "/runs", response_model=RunOut, responses=errors(400, 401, 403, 409), openapi_extra=_body(RunIn)
)
async def start(request: Request, db: DB, peer: SignedPeer) -> Response:
    """Run a job: its content arrived; this node's offer and owner decide again."""
    given = await _parsed(request, RunIn)
    node = request.app.state.node
    spec = given.model_dump()
    row, created = await anyio.to_thread.run_sync(provider.start, node, db, peer, spec)
    lock = await anyio.to_thread.run_sync(provider.held, node, row.run) if created else None
    db.commit()
    if created:
        provider.launch(node, row.run, lock)
    return _answer(request, _out(row))


def _out(row: ComputeProvided) -> RunOut:
    return RunOut(
        state=row.state, status=row.status, reason=row.reason, receipt=row.receipt,
        signature=row.signature, outputs=[FileOut(**o) for o in row.outputs],
        cpu_seconds=row.cpu_seconds,
    )  # fmt: skip


@router.get("/runs/{run}", response_model=RunOut, responses=errors(401, 403, 404))
async def state(request: Request, db: DB, peer: SignedPeer, run: str) -> Response:
    """A run's state, and once done its signed receipt and its outputs. The asking is noted:
    a run its asker stops asking about is stopped (provider.asker_lost)."""
    row = _run_of(db, peer, run)
    row.asked_at = datetime.now(UTC)
    db.commit()
    return _answer(request, _out(row))


@router.get("/runs/{run}/outputs/{digest}", responses=errors(401, 403, 404))
async def output(
    request: Request,
    db: DB,
    peer: SignedPeer,
    run: str,
    digest: str,
    offset: int = Query(0, ge=0, le=1 << 40),
) -> Response:
    """A piece (4 MiB at most) of one of a run's outputs, from `offset`."""
    row = _run_of(db, peer, run)
    if digest not in {o["digest"] for o in row.outputs}:
        raise JobNotFound("This run has no such output.")
    node = request.app.state.node

    def piece() -> bytes:
        from hameau.compute import jobs

        with jobs.store(node).open_verified(digest) as handle:
            handle.seek(offset)
            return handle.read(provider.PIECE)

    body = await anyio.to_thread.run_sync(piece)
    identity = node.identity
    return signed_content(
        body, "application/octet-stream", _incoming(request), identity, request.state.hamlet_nonce
    )


@router.post(
    "/runs/{run}/settled",
    response_model=Noted,
    responses=errors(400, 401, 403, 404),
    openapi_extra=_body(SettledIn),
)
async def settled(request: Request, db: DB, peer: SignedPeer, run: str) -> Response:
    """The asker's word on a run once verified: whether it agreed, and what it was paid (the
    ledger says it too)."""
    given = await _parsed(request, SettledIn)
    row = _run_of(db, peer, run)
    row.verdict, row.paid_cents = given.verdict, given.paid_cents
    db.commit()
    return _answer(request, Noted(noted=True))

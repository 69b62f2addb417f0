"""restic's REST backend protocol (v1 and v2), served to paired peers for their backups, under
/api/hamlet/backup/: POST /?create=true; HEAD, GET, POST /config; GET /{type}/ (a list: names,
or names and sizes when asked with `Accept: application/vnd.x.restic.rest.v2`); HEAD, GET
(with Range), POST, DELETE /{type}/{name}.

Only a paired peer's signed request gets here (hamlet/api.py:signed_peer), and only one this
node offers space to (403 otherwise; after the offer is withdrawn, the peer may still read,
delete and lock, but not store). Each peer reaches only its own repository (store.py), named
after the key that signed the request. Every success is signed (hamlet/answers.py), so the
peer's proxy (proxy.py) knows it comes from this node. Request bodies are bounded by the app
(a 413 past store.MAX_OBJECT: see LARGER_BODIES in hameau/app.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from hameau.backup import offers
from hameau.backup.errors import NoOffer
from hameau.backup.store import CONFIG, MAX_OBJECT, PeerRepository
from hameau.errors import PayloadTooLarge, RangeNotSatisfiable
from hameau.hamlet.answers import signed_answer, signed_content
from hameau.hamlet.api import SignedPeer, _incoming
from hameau.hamlet.models import HamletPeer
from hameau.node.db import utcnow
from hameau.web.auth import DB
from hameau.web.openapi import BINARY, binary, errors

router = APIRouter(prefix="/api/hamlet/backup", tags=["backup"])

V2 = "application/vnd.x.restic.rest.v2"
OCTETS = "application/octet-stream"
RANGE = re.compile(r"bytes=(\d+)-(\d*)")
BODY = {
    "requestBody": {
        "required": False,
        "content": {OCTETS: {"schema": BINARY}},
    }
}
READS: dict[int | str, dict[str, Any]] = {
    200: binary("The object."),
    206: binary("The part of the object asked for."),
}


def _repository(
    request: Request, db: DB, peer: HamletPeer, storing: str | None
) -> tuple[PeerRepository, int]:
    """The peer's repository and its quota; `storing`: the type of object about to be stored."""
    offer = offers.offer_of(db, peer.node_id)
    if offer is None:
        raise NoOffer(
            "This home server offers no backup space to yours; its admin can offer some with"
            " `hameau backup offer`."
        )
    if storing not in (None, "locks") and offer.withdrawn_at is not None:
        raise NoOffer(
            "This home server no longer takes your backups (its offer was withdrawn); what"
            " you stored there can still be read."
        )
    return request.app.state.backup_repositories.of(peer.node_id), offer.quota_bytes


def _answer(
    request: Request,
    body: bytes = b"",
    media_type: str = OCTETS,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    identity = request.app.state.node.identity
    asked = _incoming(request)
    return signed_content(
        body, media_type, asked, identity, request.state.hamlet_nonce, status, headers
    )


async def _body(request: Request) -> bytes:
    body = await request.body()  # read (and bounded) already, for its digest
    if len(body) > MAX_OBJECT:
        raise PayloadTooLarge(
            "This request is too large (more than %(limit)s bytes).", limit=MAX_OBJECT
        )
    return body


@router.post("/", responses=errors(400, 403, 507), openapi_extra=BODY)
async def create(request: Request, peer: SignedPeer, db: DB, create: bool = False) -> Response:
    """Create the peer's repository here (`?create=true`), as restic's `init` asks."""
    repository, _ = _repository(request, db, peer, "config")
    if create:
        await anyio.to_thread.run_sync(repository.create)
    return _answer(request)


async def _read(request: Request, repository: PeerRepository, kind: str, name: str) -> Response:
    size = await anyio.to_thread.run_sync(repository.size, kind, name)
    if request.method == "HEAD":
        return _answer(request, headers={"content-length": str(size), "accept-ranges": "bytes"})
    start, end = 0, size - 1
    asked = request.headers.get("range")
    found = RANGE.fullmatch(asked.strip()) if asked else None  # another form: the whole
    if found is not None:
        start = int(found.group(1))
        end = min(int(found.group(2) or size - 1), size - 1)
        if start >= size or end < start:
            raise RangeNotSatisfiable(
                "This range is outside the object.", headers={"Content-Range": f"bytes */{size}"}
            )
    body = await anyio.to_thread.run_sync(repository.read, kind, name, start, end - start + 1)
    if found is None:
        return _answer(request, body)
    headers = {"content-range": f"bytes {start}-{end}/{size}", "accept-ranges": "bytes"}
    return _answer(request, body, status=206, headers=headers)


async def _save(request: Request, db: DB, peer: HamletPeer, kind: str, name: str) -> Response:
    body = await _body(request)
    repository, quota = _repository(request, db, peer, kind)
    await anyio.to_thread.run_sync(repository.save, kind, name, body, quota)
    if kind == "snapshots":
        offer = offers.offer_of(db, peer.node_id)
        if offer is not None:
            offer.last_snapshot_at = utcnow()
    return _answer(request)


@router.get("/config", responses={**READS, **errors(403, 404, 416)})
@router.head("/config", responses={**READS, **errors(403, 404)})
async def read_config(request: Request, peer: SignedPeer, db: DB) -> Response:
    """The repository's config (encrypted by restic; a HEAD says whether there is one)."""
    repository, _ = _repository(request, db, peer, None)
    return await _read(request, repository, CONFIG, "")


@router.post("/config", responses=errors(403, 404, 507), openapi_extra=BODY)
async def save_config(request: Request, peer: SignedPeer, db: DB) -> Response:
    """Store the repository's config."""
    return await _save(request, db, peer, CONFIG, "")


@router.get(
    "/{kind}/",
    responses={200: {"description": "The objects of this type."}, **errors(400, 403, 404)},
)
async def listing(request: Request, kind: str, peer: SignedPeer, db: DB) -> Response:
    """The objects of one type: their names (v1), or names and sizes (v2, by Accept)."""
    repository, _ = _repository(request, db, peer, None)
    found = await anyio.to_thread.run_sync(repository.listing, kind)
    if V2 in request.headers.get("accept", ""):
        body = json.dumps([{"name": name, "size": size} for name, size in found])
        return _answer(request, body.encode(), V2)
    return _answer(request, json.dumps([name for name, _ in found]).encode(), "application/json")


@router.get("/{kind}/{name}", responses={**READS, **errors(400, 403, 404, 416)})
@router.head("/{kind}/{name}", responses={**READS, **errors(400, 403, 404)})
async def read_object(request: Request, kind: str, name: str, peer: SignedPeer, db: DB) -> Response:
    """One object, whole or the part its Range asks for (a HEAD: its size)."""
    repository, _ = _repository(request, db, peer, None)
    return await _read(request, repository, kind, name)


@router.post("/{kind}/{name}", responses=errors(400, 403, 404, 507), openapi_extra=BODY)
async def save_object(request: Request, kind: str, name: str, peer: SignedPeer, db: DB) -> Response:
    """Store one object; its name must be the SHA-256 of its content."""
    return await _save(request, db, peer, kind, name)


@router.delete("/{kind}/{name}", responses=errors(400, 403, 404))
async def delete_object(
    request: Request, kind: str, name: str, peer: SignedPeer, db: DB
) -> Response:
    """Delete one object (restic's locks when done, packs and indexes when it prunes)."""
    repository, _ = _repository(request, db, peer, None)
    await anyio.to_thread.run_sync(repository.delete, kind, name)
    return _answer(request)


class Space(BaseModel):
    """The room this node gives the asking peer's backups."""

    quota: int = Field(description="Bytes offered.")
    used: int = Field(description="Bytes its repository takes here (0 before restic's init).")
    withdrawn: bool = Field(description="The offer was withdrawn: reads only.")


@router.get("/space", response_model=Space, responses=errors(403))
async def space(request: Request, peer: SignedPeer, db: DB) -> Response:
    """How much room the asking peer has here and uses (for its admin's page)."""
    repository, quota = _repository(request, db, peer, None)
    offer = offers.offer_of(db, peer.node_id)
    used = await anyio.to_thread.run_sync(repository.used) if repository.created else 0
    found = Space(quota=quota, used=used, withdrawn=bool(offer and offer.withdrawn_at))
    identity = request.app.state.node.identity
    return signed_answer(found, _incoming(request), identity, request.state.hamlet_nonce)

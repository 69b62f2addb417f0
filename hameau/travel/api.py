"""The home node's side of sync, for a member's satellite.

Files: what changed in a space since a sequence number, the current state of given paths,
content by hash both ways (only what is missing is sent), and applying reconciled states
with a compare-and-set on each path's vector (a path changed meanwhile is refused as stale
and reconciled again at the next round). Notes (api_notes.py): updates against the other
copy's state vector. Calendars (api_calendars.py): events by UID, replaced only if
unchanged since the satellite saw them.

A satellite is one of the member's devices with its own app password, made by
`POST /api/travel/satellites` (which takes the member's password, rate-limited like the
login page) and revoked by `DELETE /api/travel/satellites/self` or from the travel page.
Every other route takes the member's app password (the satellite's) as a bearer token.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, cast

import anyio
from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from hameau.accounts import devices, members, tokens
from hameau.accounts.models import AppToken, Device, Member
from hameau.errors import BadRequest, Forbidden, HameauError, NotFound, TooManyRequests
from hameau.files import journal, quota, settle
from hameau.files import service as files
from hameau.files.journal import SyncEntry
from hameau.files.merge import FileState
from hameau.footprint.meter import counted, metered
from hameau.node.blobs import BlobStore
from hameau.travel import reach, wire
from hameau.web.auth import DB, MemberVisitor, client_address, member_of
from hameau.web.openapi import Binary, binary, errors

router = APIRouter(prefix="/api/travel", tags=["travel"])
Space = Annotated[str, PathParam(description="mine or household", examples=["mine"])]
MAX_BATCH = 5000  # items per request; bodies up to 16 MiB (hameau.app.LARGER_BODIES)


# ---------------------------------------------------------------- satellites


class PackIn(BaseModel):
    # Credentials missing are a failed login (401), not a malformed body (422).
    member: str = Field("", max_length=40)
    password: str = Field("", max_length=1024)
    name: str = Field("satellite", min_length=1, max_length=60)
    takes: list[str] = Field(default_factory=list, max_length=100)


class PackOut(BaseModel):
    token: str
    device_id: int
    device_name: str
    member: dict[str, Any]
    home: dict[str, str]


def _satellite_name(db: DB, wanted: str) -> str:
    name, number = wanted.strip()[:60], 1
    while db.scalar(select(Device.id).where(Device.name == name)) is not None:
        number += 1
        name = f"{wanted.strip()[:55]} ({number})"
    return name


@router.post(
    "/satellites",
    status_code=201,
    responses=errors(400, 401, 429),
    openapi_extra={"security": []},  # a login: the member's name and password in the body
)
async def create_satellite(request: Request, db: DB, body: PackIn | None = None) -> PackOut:
    """Open on purpose: it is a login (member name and password, rate-limited the same way)
    that makes the satellite one of the member's devices, with its own app password."""
    body = body or PackIn.model_validate({})
    limiter = request.app.state.limiter
    account, address = body.member.strip().lower(), client_address(request)
    wait = limiter.retry_after(account, address)
    if wait:
        raise TooManyRequests(
            "Too many failed logins; try again in %(seconds)s seconds.",
            headers={"Retry-After": str(wait)},
            seconds=wait,
        )
    try:
        member = await members.authenticate(db, account, body.password)
    except HameauError:
        limiter.failed(account, address)
        raise
    limiter.succeeded(account)
    device = devices.add_device(
        db, _satellite_name(db, body.name), "laptop", False, owner=member,
        specs={"satellite": "yes", "takes": " ".join(body.takes)[:500]},
    )  # fmt: skip
    token, secret = tokens.create_token(db, member, f"satellite: {device.name}"[:80])
    token.device_id = device.id
    info = request.app.state.node
    return PackOut(
        token=secret,
        device_id=device.id,
        device_name=device.name,
        member={
            "name": member.name,
            "display_name": member.display_name,
            "quota_bytes": member.quota_bytes,
            "locale": member.locale,
        },
        home={"name": info.name, "replica": journal.replica(db), "timezone": local_zone()},
    )


def local_zone() -> str:
    """This node's time zone, as an IANA name (conflict copies made away carry its dates),
    or "" when the machine does not say."""
    import os
    from pathlib import Path
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    named = os.environ.get("TZ", "").lstrip(":") or str(Path("/etc/localtime").resolve())
    named = named.split("zoneinfo/", 1)[-1]
    try:
        ZoneInfo(named)
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    return named


@router.delete("/satellites/self", status_code=204, responses=errors(403))
async def end_satellite(db: DB, visitor: MemberVisitor) -> None:
    """The satellite came home for good: its app password is revoked, its device retired."""
    if visitor.token is None or visitor.token.device_id is None:
        raise Forbidden("Only a satellite's own app password can do this.")
    revoke_satellite(db, visitor.token)


def revoke_satellite(db: DB, token: AppToken) -> None:
    tokens.revoke_token(db, token.id)
    device = db.get(Device, token.device_id) if token.device_id else None
    if device is not None and device.retired_at is None:
        devices.retire(device)


# ---------------------------------------------------------------- files


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
    more: bool


def _owner(space: str, member_id: int) -> int | None:
    if space == "mine":
        return member_id
    if space == "household":
        return None
    raise NotFound("There is no file space called '%(key)s'.", key=space)


def _change(entry: SyncEntry) -> Change:
    return Change(
        path=entry.path, vector=entry.vector, blob=entry.blob, size=entry.size, seq=entry.seq
    )


@router.get("/files/{space}/changes", responses=errors(404))
@metered("sync")
async def changes(
    db: DB,
    visitor: MemberVisitor,
    space: Space,
    since: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH)] = 5000,
) -> Changes:
    """Every path of the space whose state changed after sequence ``since``, oldest first."""
    found = journal.changes_since(db, _owner(space, member_of(visitor).id), since, limit + 1)
    listed = [_change(entry) for entry in found[:limit]]
    return Changes(
        replica=journal.replica(db),
        changes=listed,
        last=listed[-1].seq if listed else since,
        more=len(found) > limit,
    )


class PathsIn(BaseModel):
    paths: list[str] = Field(max_length=MAX_BATCH)


@router.post("/files/{space}/states", responses=errors(404))
@metered("sync")
async def states(db: DB, visitor: MemberVisitor, space: Space, body: PathsIn) -> dict[str, Change]:
    """The current state of each given path that the journal knows."""
    owner = _owner(space, member_of(visitor).id)
    return {path: _change(entry) for path, entry in journal.states(db, owner, body.paths).items()}


class Put(BaseModel):
    path: str = Field(max_length=4000)
    vector: dict[str, int]
    blob: str | None
    size: int = Field(ge=0)
    expect: dict[str, int] | None  # the vector this path had when the satellite looked


class PutsIn(BaseModel):
    changes: list[Put] = Field(max_length=MAX_BATCH)


class Applied(BaseModel):
    applied: list[str]
    stale: list[str]  # changed here since the satellite looked: reconcile again
    refused: dict[str, str]  # path: why (quota, a folder in the way …)


@router.post("/files/{space}/apply", responses=errors(404, 503))
@metered("sync")
async def apply_changes(
    request: Request, db: DB, visitor: MemberVisitor, space: Space, body: PutsIn
) -> Applied:
    """Set each path to its reconciled state, if it has not changed since the satellite looked.

    Each path is applied in its own savepoint: one refused path leaves the others done."""
    member = member_of(visitor)
    owner = _owner(space, member.id)
    where = files.Space(space, owner)
    settle.check_marker(db, request.app.state.node.blobs)
    # Content named by hash only: what the member may not take is as if it had not arrived.
    named = [change.blob for change in body.changes if change.blob is not None]
    store = cast(BlobStore, _within(request, db, member, named))
    for change in body.changes:  # the size recorded (and counted in the quota) is the content's
        if change.blob is not None and wire.is_digest(change.blob) and store.exists(change.blob):
            change.size = store.size(change.blob) or 0
    result = Applied(applied=[], stale=[], refused={})
    known: settle.Folders = {}
    current = journal.states(db, owner, [change.path for change in body.changes], to_set=True)
    result.applied += _in_bulk(db, member, where, body.changes, current, store, known)
    done = set(result.applied)
    for change in body.changes:
        if change.path in done:
            continue
        entry = current.get(change.path)
        if (entry.vector if entry is not None else None) != change.expect:
            result.stale.append(change.path)
            continue
        if change.blob is not None and not wire.is_digest(change.blob):
            result.refused[change.path] = "not a content hash"
            continue
        try:
            with db.begin_nested():
                settle.put(
                    db, member, where, change.path, FileState(change.vector, change.blob),
                    change.size, store, known=known,
                )  # fmt: skip
        except HameauError as error:
            known.clear()
            result.refused[change.path] = str(error)
            continue
        result.applied.append(change.path)
    done = set(result.applied)  # their contents are now the member's own files: readable
    _proofs(request).forget(
        db, member.id, [c.blob for c in body.changes if c.path in done and c.blob]
    )
    return result


def _in_bulk(
    db: DB,
    member: Member,
    where: files.Space,
    changes: list[Put],
    current: dict[str, SyncEntry],
    store: BlobStore,
    known: settle.Folders,
) -> list[str]:
    """Paths this node never had (a satellite's new files), then new contents of files it
    has and did not change meanwhile (a satellite's edits): in bulk, if they all fit in
    the member's room; what is left is applied (or refused) one by one."""
    done: list[str] = []
    fresh = [
        (change.path, FileState(change.vector, change.blob), change.size)
        for change in changes
        if change.blob is not None and change.expect is None and change.path not in current
        and wire.is_digest(change.blob)
    ]  # fmt: skip
    edits = [
        (change.path, FileState(change.vector, change.blob), change.size)
        for change in changes
        if change.blob is not None and change.expect is not None and change.path in current
        and current[change.path].vector == change.expect and wire.is_digest(change.blob)
    ]  # fmt: skip
    try:
        if sum(size for _path, _state, size in fresh) > quota.room_left(db, member):
            raise quota.over_quota()
        with db.begin_nested():
            settle.put_new(db, member, where, fresh, store, known)
        done += [path for path, _state, _size in fresh]
    except (IntegrityError, HameauError):
        known.clear()  # one by one instead, each refused or applied on its own
    try:
        if edits and sum(size for _path, _state, size in edits) <= quota.room_left(db, member):
            with db.begin_nested():
                done += settle.replace_many(db, member, where, edits, current, store, known)
    except (IntegrityError, HameauError):
        known.clear()
    return done


class DigestsIn(BaseModel):
    digests: list[str] = Field(max_length=MAX_BATCH)


def _proofs(request: Request) -> reach.Proofs:
    return request.app.state.travel_proofs  # type: ignore[no-any-return]


def _within(request: Request, db: DB, member: Member, digests: list[str]) -> reach.Within:
    """The store as this member sees it: only what they may read or just sent exists."""
    allowed = reach.readable(db, member, digests) | _proofs(request).held(db, member.id, digests)
    return reach.Within(request.app.state.node.blobs, allowed)


@router.post("/blobs/missing")
@metered("sync")
async def missing(
    request: Request, db: DB, visitor: MemberVisitor, body: DigestsIn
) -> dict[str, list[str]]:
    """Which of these contents the satellite must send: those this node does not hold, and
    those the member may not read here (so the answer tells nothing of other members')."""
    store = _within(request, db, member_of(visitor), body.digests)
    return {"missing": [d for d in body.digests if not wire.is_digest(d) or not store.exists(d)]}


@router.post(
    "/blobs/fetch",
    response_model=None,
    response_class=Binary,
    responses={200: binary("The contents, each as a line `<sha256> <size>` then its bytes."),
               **errors(404)},
)  # fmt: skip
async def fetch(request: Request, db: DB, visitor: MemberVisitor, body: DigestsIn) -> Response:
    """Many contents in one body (see `wire`), each only if the member may read it."""
    store = _within(request, db, member_of(visitor), body.digests)
    unknown = [d for d in body.digests if not wire.is_digest(d) or not store.exists(d)]
    if unknown:
        raise NotFound("No such content: %(digest)s.", digest=unknown[0])
    return StreamingResponse(
        wire.send(store.store, body.digests), media_type="application/octet-stream"
    )


@router.post(
    "/blobs/upload",
    responses=errors(400, 507),
    openapi_extra={
        "requestBody": binary("Contents, each as a line `<sha256> <size>` then its bytes.")
    },
)
@metered("sync", loop=False)  # its work is in worker threads, counted there
async def upload(request: Request, db: DB, visitor: MemberVisitor) -> dict[str, Any]:
    """Many contents in one body (see `wire`); each is kept only if it hashes to its name.

    Bounded by the member's room left: a content that does not fit is dropped and listed in
    `refused` (the others are kept), with the room that was left (`room`, bytes). Content no
    file refers to goes to the quarantine at the next start. Sending the bytes proves the
    member holds them: they may then name them by hash."""
    member = member_of(visitor)
    member_id, store = member.id, request.app.state.node.blobs
    room = quota.room_left(db, member)
    receiver = wire.Receiver(store, limit=room)
    db.rollback()  # hold no transaction while the body streams in
    try:
        async for chunk in request.stream():
            await anyio.to_thread.run_sync(counted(partial(receiver.feed, chunk)))
        await anyio.to_thread.run_sync(counted(receiver.close))
    except ClientDisconnect:
        await anyio.to_thread.run_sync(receiver.abort)
        raise BadRequest(
            "The upload was cut off; the contents that arrived whole were kept."
        ) from None
    except wire.WireError as error:
        await anyio.to_thread.run_sync(receiver.abort)
        raise BadRequest("The contents sent were refused: %(why)s.", why=str(error)) from None
    except HameauError:  # a full disk (507): what arrived whole stays, the rest is dropped
        await anyio.to_thread.run_sync(receiver.abort)
        raise
    finally:
        _proofs(request).add(db, member_id, receiver.stored)  # each verified as it arrived whole
        db.commit()  # even when the rest failed: what was proved stays proved
    return {"stored": receiver.stored, "refused": receiver.refused, "room": room}

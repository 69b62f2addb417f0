"""The files JSON API and raw content: list, download (with Range), upload (streamed), and
the folder, move and delete operations. The pages' upload script uses the same routes."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from hameau.errors import N_, BadRequest, Forbidden, RequestTimeout
from hameau.files import integrity, listing, paths, purge
from hameau.files import service as files
from hameau.files.models import FileEntry
from hameau.node import socket_body
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.openapi import BINARY, RowId, binary, errors

router = APIRouter(prefix="/api/files", tags=["files"])
# The trash has its own address: under /api/files/ it would share paths with the spaces.
trash_router = APIRouter(prefix="/api/trash", tags=["files"])
# Described with examples, so that a client (and schemathesis) finds the spaces that exist.
Key = Annotated[str, PathParam(description="mine, household or shared", examples=["mine"])]
FilePath = Annotated[str, PathParam(description="a path in the space", examples=["hello.txt"])]
CONTENT_RANGE = {"description": "bytes */SIZE, SIZE being the file's", "schema": {"type": "string"}}
Limit = Annotated[
    int, Query(ge=1, le=listing.API_LIMIT, description="At most this many entries of a folder.")
]
Cursor = Annotated[
    str | None,
    Query(max_length=40, description="A folder's listing from there: the `cursor` of a page."),
]
RANGE = {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"},
         "examples": {"start": {"value": "bytes=0-1"}}}  # fmt: skip
CUT = N_("The upload was cut off before the end; nothing was kept.")
STALLED = N_("The upload stopped coming for too long; nothing was kept. Send it again.")


class EntryOut(BaseModel):
    id: int
    name: str
    folder: bool
    size: int
    content_type: str | None
    revision: int
    modified_at: str

    @classmethod
    def of(cls, entry: FileEntry) -> EntryOut:
        return cls(
            id=entry.id, name=entry.name, folder=entry.is_dir, size=entry.size,
            content_type=None if entry.is_dir else entry.content_type,
            revision=entry.revision, modified_at=entry.modified_at.isoformat(),
        )  # fmt: skip


class Listing(BaseModel):
    """A folder's entries, folders first then by name, a page at a time."""

    path: str
    entries: list[EntryOut]
    cursor: str | None = Field(None, description="Where the next page starts (opaque).")
    next: str | None = Field(None, description="The next page's address; none on the last.")


class FolderIn(BaseModel):
    space: str = Field(pattern="^(mine|household)$")
    path: str = Field(min_length=1, max_length=4000)


class MoveIn(BaseModel):
    space: str = Field(pattern="^(mine|household)$")
    path: str = Field(min_length=1, max_length=4000)
    to_space: str = Field(pattern="^(mine|household)$")
    to_path: str = Field(min_length=1, max_length=4000)


class TrashItem(BaseModel):
    id: int
    name: str
    folder: bool
    size: int
    space: str  # "mine" or "household"
    was_in: str
    deleted_at: str


class Trash(BaseModel):
    items: list[TrashItem]


class Purged(BaseModel):
    freed_bytes: int  # what came back on the disk (content other files share stays)


@trash_router.get("", responses=errors(507))
async def trash_list(request: Request, db: DB, visitor: MemberVisitor) -> Trash:
    """What the member (and the household) deleted, kept 30 days unless deleted for good."""
    purge.expire(db, request.app.state.node.blobs)
    items = []
    for entry in files.trashed(db, member_of(visitor)):
        assert entry.deleted_at is not None
        items.append(
            TrashItem(
                id=entry.id,
                name=entry.name,
                folder=entry.is_dir,
                size=entry.size,
                space="household" if entry.owner_id is None else "mine",
                was_in=entry.deleted_from or "",
                deleted_at=entry.deleted_at.isoformat(),
            )
        )
    return Trash(items=items)


@trash_router.delete("", responses=errors(507))
async def trash_empty(request: Request, db: DB, visitor: MemberVisitor) -> Purged:
    """Empty the member's trash (what they deleted from their own files) for good."""
    store = request.app.state.node.blobs
    return Purged(freed_bytes=purge.empty_trash(db, member_of(visitor), store))


@trash_router.delete("/{entry_id}", responses=errors(404, 507))
async def trash_delete(request: Request, db: DB, visitor: MemberVisitor, entry_id: RowId) -> Purged:
    """Delete one item of the trash for good (a folder with all it holds)."""
    store = request.app.state.node.blobs
    return Purged(freed_bytes=purge.delete_for_good(db, member_of(visitor), entry_id, store))


@router.get(
    "/{key}/{path:path}",
    response_model=None,
    responses={
        200: {
            "model": Listing,
            "description": "A folder's listing (JSON), or a file's content, with the type it"
            " was stored with, as an attachment.",
            "content": {"*/*": {"schema": BINARY}},
        },
        206: {
            "description": "The part(s) of the file asked for with Range.",
            "content": {"*/*": {"schema": BINARY}},
        },
        # 400: a Range that cannot be read; 416 (with Content-Range: bytes */SIZE): one that
        # starts past the end. A unit other than bytes is ignored: the whole file comes.
        **errors(400, 404, 409),
        416: {**errors(416)[416], "headers": {"Content-Range": CONTENT_RANGE}},
    },
    openapi_extra={"parameters": [RANGE]},
)
async def read(
    request: Request, db: DB, visitor: MemberVisitor, key: Key, path: FilePath,
    limit: Limit = listing.API_LIMIT, cursor: Cursor = None,
) -> Response | Listing:  # fmt: skip
    """A file's content, or a folder's listing a page at a time (follow `next`)."""
    assert visitor.member is not None
    _, entry = files.locate(db, visitor.member, key, path)
    if entry.is_dir:
        found = listing.page(db, entry, limit, cursor)
        after = found.cursor
        return Listing(
            path=path, entries=[EntryOut.of(item) for item in found.entries], cursor=after,
            next=f"/api/files/{key}/{quote(path)}?limit={limit}&cursor={after}" if after else None,
        )  # fmt: skip
    return await integrity.download(request.app.state.node.blobs, entry, request.headers)


async def receive_upload(request: Request, db: DB, plan: files.WritePlan, member) -> FileEntry:  # type: ignore[no-untyped-def]
    """Stream a body into the blob store; nothing is recorded unless all of it arrived. A large
    body is read from the socket by a worker thread when the server offers it (`socket_body`)."""
    declared = request.headers.get("content-length")
    store = request.app.state.node.blobs
    with store.writer() as writer:

        def write(piece: bytes | memoryview) -> None:
            writer.write(piece)
            if writer.size > plan.limit:
                raise files.over_quota()

        try:
            body = socket_body.offered(request.scope)
            if body is None or not await body.into(write):
                async for chunk in request.stream():
                    write(chunk)
        except (ClientDisconnect, socket_body.BodyCut):
            raise BadRequest(CUT) from None
        except socket_body.BodyTimedOut:
            raise RequestTimeout(STALLED) from None
        if declared is not None and declared.isdigit() and writer.size != int(declared):
            raise BadRequest(CUT)
        digest = await anyio.to_thread.run_sync(writer.commit)
    content_type = request.headers.get("content-type", "").split(";")[0]
    return files.record_write(db, plan, member, digest, writer.size, content_type, store)


@router.put(
    "/{key}/{path:path}",
    status_code=201,
    responses=errors(400, 403, 404, 408, 409, 507),
    openapi_extra={"requestBody": binary("The file's content, of any type.", required=False)},
)
async def upload(
    request: Request, db: DB, visitor: MemberVisitor, key: Key, path: FilePath
) -> EntryOut:
    """Upload a file's content as the raw body (streamed, never held whole in memory)."""
    assert visitor.member is not None
    if key == "shared":
        raise Forbidden("This file is shared with you read-only.")
    declared = request.headers.get("content-length")
    where = files.space(visitor.member, key)
    plan = files.plan_write(
        db, visitor.member, where, paths.split(path),
        int(declared) if declared and declared.isdigit() else None,
    )  # fmt: skip
    db.commit()  # hold no transaction while the body streams in (other writers go on)
    return EntryOut.of(await receive_upload(request, db, plan, visitor.member))


@router.delete("/{key}/{path:path}", status_code=204, responses=errors(400, 403, 404))
async def remove(db: DB, visitor: MemberVisitor, key: Key, path: FilePath) -> None:
    """Move to the trash (kept 30 days)."""
    assert visitor.member is not None
    if key == "shared":
        raise Forbidden("This file is shared with you read-only.")
    _, entry = files.locate(db, visitor.member, key, path)
    files.trash(db, visitor.member, entry)


@router.post("/folders", status_code=201, responses=errors(400, 404, 409, 507))
async def make_folder(db: DB, visitor: MemberVisitor, body: FolderIn) -> EntryOut:
    assert visitor.member is not None
    where = files.space(visitor.member, body.space)
    return EntryOut.of(files.make_folder(db, visitor.member, where, paths.split(body.path)))


@router.post("/move", responses=errors(400, 403, 404, 409))
async def move(db: DB, visitor: MemberVisitor, body: MoveIn) -> EntryOut:
    assert visitor.member is not None
    _, entry = files.locate(db, visitor.member, body.space, body.path)
    parts = paths.split(body.to_path)
    if not parts:
        raise BadRequest("Give the new name.")
    target = files.resolve(db, files.space(visitor.member, body.to_space), parts[:-1])
    return EntryOut.of(files.move(db, visitor.member, entry, target, parts[-1]))

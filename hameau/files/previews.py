"""Thumbnails and in-page previews of files, by the file's id (a shared device's history
keeps no name), with the same rights as its page: another member's file is unknown (404).

What a browser is given to show in place never runs as a page of the node: thumbnails are
re-encoded by Pillow; an SVG is sent as an attachment under a sandboxing CSP (an <img> shows
it, opening it downloads it); a PDF is sent inline, sandboxed, for the browser's own viewer
in a frame of the file's page only.
"""

from __future__ import annotations

from html import escape
from typing import Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from hameau.errors import Conflict, NotFound
from hameau.files import integrity, kinds
from hameau.files.models import FileEntry
from hameau.files.thumbnails import REFUSALS, Refused, Thumbnails, cache_folder
from hameau.files.views import _readable
from hameau.web.auth import DB, MemberVisitor, Visitor, member_of
from hameau.web.openapi import RowId

router = APIRouter(prefix="/files/item", include_in_schema=False)

SANDBOX = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
MAX_SVG = 2 << 20
# The generic picture (the sprite's "image" symbol), with the reason below it when large.
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}">'
    '<g transform="translate({x} 8) scale(2)" fill="none" stroke="#5b6b62" stroke-width="1.5">'
    '<rect x="3" y="4" width="18" height="16" rx="2"/><circle cx="9" cy="10" r="2"/>'
    '<path d="M3 18l5-5 4 4 3-3 6 6"/></g>{text}</svg>'
)


def _thumbnails(request: Request) -> Thumbnails:
    """The node's thumbnail cache, made on first use, with its one-at-a-time limiter."""
    state = request.app.state
    if getattr(state, "thumbnails", None) is None:
        node = state.node
        state.thumbnails = Thumbnails(node.blobs, cache_folder(node.layout.root))
        state.thumbnails_limiter = anyio.CapacityLimiter(1)  # a photo's decoding takes memory
    return state.thumbnails  # type: ignore[no-any-return]


def _cache_control(visitor: Visitor, current: bool) -> str:
    """A shared device's browser keeps no copy; elsewhere an address naming the content's
    hash (``?v=``) may be kept, since that content never changes."""
    if visitor.on_shared_session:
        return "no-store"
    return "private, max-age=604800, immutable" if current else "private, no-cache"


def _file(db: DB, visitor: Visitor, entry_id: int, previews: tuple[str, ...]) -> FileEntry:
    entry = _readable(db, member_of(visitor), entry_id)
    if entry.is_dir or not entry.blob or kinds.kind_of(entry).preview not in previews:
        raise NotFound("No file or folder at this path.")
    return entry


def icon(request: Request, reason: str, size: str) -> Response:
    """The generic picture instead of a thumbnail, saying why on the file's page."""
    text = ""
    width, height = (48, 48) if size == "small" else (320, 80)
    if size != "small":
        sentence = escape(request.app.state.pages.gettext(request)(REFUSALS[reason]))
        text = f'<text x="160" y="72" font-family="sans-serif" font-size="11" text-anchor="middle" fill="#1f2a24">{sentence}</text>'
    body = ICON.format(w=width, h=height, x=(width - 48) // 2, text=text)
    headers = {"Cache-Control": "private, no-cache", "X-Thumbnail-Refused": reason}
    return Response(body, media_type="image/svg+xml", headers=headers)


@router.get("/{entry_id}/thumbnail")
async def thumbnail(
    request: Request, db: DB, visitor: MemberVisitor, entry_id: RowId,
    size: Literal["small", "large"] = "small", v: str = "",
) -> Response:  # fmt: skip
    """An image's thumbnail (``small``: a row of the list; ``large``: the file's page), or
    the generic picture when it gets none; never the error page of a failed decoding."""
    entry = _file(db, visitor, entry_id, ("image", "svg"))
    assert entry.blob is not None
    cache = _cache_control(visitor, v == entry.blob[:16])
    if kinds.kind_of(entry).preview == "svg":
        return await _svg(request, entry, size, cache)
    thumbnails = _thumbnails(request)
    try:  # a made one at once; one to make waits its turn (one decoding at a time)
        found = await anyio.to_thread.run_sync(thumbnails.read, entry.blob, size, False)
        if found is None:
            found = await anyio.to_thread.run_sync(
                thumbnails.read, entry.blob, size, limiter=request.app.state.thumbnails_limiter
            )
        assert found is not None
        body, media = found
    except Refused as refused:
        return icon(request, refused.reason, size)
    return Response(body, media_type=media, headers={"Cache-Control": cache})


async def _svg(request: Request, entry: FileEntry, size: str, cache: str) -> Response:
    """An SVG as itself, to be shown by an <img> only: scripts in it never run there, and
    opened on its own it is downloaded, sandboxed, never shown as a page of the node."""
    assert entry.blob is not None
    if entry.size > MAX_SVG:
        return icon(request, "too large", size)
    store = request.app.state.node.blobs
    try:
        stat = await anyio.to_thread.run_sync(integrity.check_before_serving, store, entry)
    except Conflict:
        return icon(request, "damaged", size)
    return integrity.VerifiedBlobResponse(
        store, entry.blob, media_type="image/svg+xml", filename=entry.name, stat_result=stat,
        headers={"Cache-Control": cache, "Content-Security-Policy": SANDBOX},
    )  # fmt: skip


@router.get("/{entry_id}/inline")
async def inline(request: Request, db: DB, visitor: MemberVisitor, entry_id: RowId) -> Response:
    """A PDF for the browser's own viewer, in a frame of the file's page: sandboxed (no
    script of the document runs as the node), framed by the node's own pages only."""
    entry = _file(db, visitor, entry_id, ("pdf",))
    assert entry.blob is not None
    store = request.app.state.node.blobs
    stat = await anyio.to_thread.run_sync(integrity.check_before_serving, store, entry)
    response = integrity.VerifiedBlobResponse(
        store, entry.blob, media_type="application/pdf", content_disposition_type="inline",
        filename=None if visitor.on_shared_session else entry.name, stat_result=stat,
        headers={
            "Cache-Control": _cache_control(visitor, False),
            "Content-Security-Policy": SANDBOX + "; frame-ancestors 'self'",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )  # fmt: skip
    response.check_range(request.headers, stat.st_size)
    return response

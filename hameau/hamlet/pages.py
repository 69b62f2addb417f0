"""The hamlet page, for admins: invite a home (text and QR code), join one, the peers with
their state as the last calls found it, "Check now" and "Leave".

The page never waits on a peer: it shows what was recorded (hamlet/health.py). Only "Check
now" and "Join" call a peer, with short timeouts, after committing the request's session so
that no write lock is held while the peer answers (or does not)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form
from markupsafe import escape
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.errors import N_, BadRequest, Conflict, HameauError
from hameau.hamlet import client, health, pairing, service
from hameau.hamlet.errors import PeerNotFound
from hameau.hamlet.models import HamletPeer
from hameau.web.auth import DB, AdminVisitor
from hameau.web.openapi import RowId

router = APIRouter(prefix="/hamlet", include_in_schema=False)


STATES = {
    "up": N_("answers"),
    "unreachable": N_("unreachable"),
    "refused": N_("refuses this home"),
    "unknown": N_("not called yet"),
}
NOTICES = {
    "joined": N_("Paired: each home now trusts the other's key."),
    "left": N_("Left: its requests are refused from now on."),
    "checked": N_("Checked; its state below is the answer."),
}
PING = "/api/hamlet/ping"
CHECK_TIMEOUT = 5.0  # a ping is tiny: a peer slower than that is not usable from a page
LONGEST_INVITATION_HOURS = 24 * 30


def _context(request: Request, db: Session, **more: Any) -> dict[str, Any]:
    gettext = request.app.state.pages.gettext(request)
    peers = service.peers(db)
    return {
        "title": N_("Hamlet"),
        "peers": [peer for peer in peers if peer.revoked_at is None],
        "left": [peer for peer in peers if peer.revoked_at is not None],
        "states": STATES,
        "said_error": lambda peer: health.last_error(peer, gettext),
        "now": datetime.now(UTC),
        "own_address": str(request.base_url).rstrip("/"),
        "hours": 24,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        **more,
    }


def _page(request: Request, db: Session, status: int = 200, **more: Any) -> Response:
    pages = request.app.state.pages
    return pages.render(request, "hamlet/page.html", _context(request, db, **more), status)


def _said(request: Request, failure: HameauError) -> str:
    return failure.render(request.app.state.pages.gettext(request))


def _active(db: Session, peer_id: int) -> HamletPeer:
    peer = db.get(HamletPeer, peer_id)
    if peer is None:
        raise PeerNotFound("No paired home server has this number; reload the hamlet page.")
    if peer.revoked_at is not None:
        raise Conflict("This home was left; pair with it again to call it.")
    return peer


def qr_svg(text: str, label: str, scale: int = 3) -> str:
    """`text` as a QR code, an inline SVG (segno is imported here, on first use); `scale`:
    pixels per module (an invitation is long: 3; a short address read across a hall: more)."""
    import segno

    svg = segno.make(text, error="m").svg_inline(scale=scale, border=2, svgclass="qr")
    return str(svg).replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)


@router.get("")
async def hamlet_page(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    return _page(request, db)


@router.post("/invite")
async def invite(
    request: Request,
    db: DB,
    visitor: AdminVisitor,
    address: Annotated[str, Form(max_length=300)],
    hours: Annotated[float, Form()] = 24,
) -> Response:
    try:
        service.check_address(address)  # before the invitation is stored
        if not 0 < hours <= LONGEST_INVITATION_HOURS:
            raise BadRequest(
                "An invitation is valid for up to 30 days (720 hours); give fewer hours."
            )
        node = request.app.state.node
        certificate = client.own_fingerprint(node)
        made = service.invite(db, node.identity.public_bytes, address, hours, certificate)
    except HameauError as failure:
        said = _said(request, failure)
        return _page(request, db, failure.status, invite_error=said, own_address=address)
    text = made.text()
    label = request.app.state.pages.gettext(request)(N_("QR code of this invitation"))
    return _page(
        request, db, invitation=made, invitation_text=text, qr=qr_svg(text, label),
        own_address=address, hours=hours,
    )  # fmt: skip


@router.post("/join")
async def join(
    request: Request,
    db: DB,
    visitor: AdminVisitor,
    invitation: Annotated[str, Form(max_length=2000)],
    address: Annotated[str, Form(max_length=300)],
) -> Response:
    db.commit()  # no write lock held while the other home answers
    try:
        await pairing.join_async(request.app.state.node, db, invitation, address)
    except HameauError as failure:
        return _page(
            request, db, failure.status, join_error=_said(request, failure),
            given_invitation=invitation, own_address=address,
        )  # fmt: skip
    return RedirectResponse("/hamlet?done=joined", status_code=303)


@router.post("/peers/{peer_id}/check")
async def check_now(request: Request, db: DB, visitor: AdminVisitor, peer_id: RowId) -> Response:
    """A signed ping, tried even while the peer is left alone after a failure."""
    peer = _active(db, peer_id)
    db.commit()  # no write lock held while the peer answers
    node = request.app.state.node
    calling = client.to_peer_async(node, peer, always=True, timeout=CHECK_TIMEOUT)
    said = None
    try:
        await calling.call("GET", PING)
    except client.PEER_ERRORS as failure:
        said = _said(request, failure)
    finally:
        await calling.aclose()
    if not request.headers.get("hx-request"):
        return RedirectResponse(f"/hamlet?done=checked#peer-{peer.id}", status_code=303)
    context = _context(request, db, peer=peer, checked=said or "")
    return request.app.state.pages.render(request, "hamlet/_peer.html", context)


@router.get("/peers/{peer_id}/leave")
async def leave_page(request: Request, db: DB, visitor: AdminVisitor, peer_id: RowId) -> Response:
    """The confirmation step: leaving is at once, and only a new pairing undoes it."""
    context = {"title": N_("Leave a home"), "peer": _active(db, peer_id)}
    return request.app.state.pages.render(request, "hamlet/leave.html", context)


@router.post("/peers/{peer_id}/leave")
async def leave(db: DB, visitor: AdminVisitor, peer_id: RowId) -> Response:
    service.leave(db, _active(db, peer_id))
    return RedirectResponse("/hamlet?done=left", status_code=303)

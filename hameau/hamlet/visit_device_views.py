"""Device sign-ins of visits (RFC 8628), the home's side, as routes: a paired node asks for a
device code (signed; the signer is the client), and the member, on any device that reaches
this node and logged in here, types the user code the terminal shows, sees which home and
which terminal asks, and approves or refuses. The terminal's node then polls the token
endpoint (visit_views.py) with the device code. No password is typed for it: the member is
already logged in here (or logs in through this node's own login page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from hameau.errors import N_
from hameau.hamlet import service, visit_devices
from hameau.hamlet.api import SignedPeer, _answer
from hameau.hamlet.visit_models import HamletVisitDevice
from hameau.web.auth import DB, MemberVisitor, Visitor, client_address, member_of
from hameau.web.openapi import errors

router = APIRouter(include_in_schema=False)
DEVICE_PAGE = visit_devices.PAGE
WRONG = N_(
    "This code is wrong, was already answered, or has expired (codes last ten minutes);"
    " check it on the terminal, or start again there."
)
TOO_MANY = N_("Too many wrong codes; try again in %(seconds)s seconds.")
api = APIRouter(prefix="/api/hamlet/visit", tags=["hamlet"])


class DeviceOut(BaseModel):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


@api.post("/device", response_model=DeviceOut, responses=errors(400, 401, 403))
async def device_authorization(request: Request, db: DB, peer: SignedPeer) -> Response:
    """A paired node's terminal cannot reach this node: it asks for a device sign-in (RFC
    8628 device authorization request, form-encoded; signed). The answer is signed."""
    from hameau.hamlet.provider import make_server, oauth2_request  # Authlib: on first use

    server = make_server(request, db, signer=peer)
    answer = server.create_endpoint_response("device_authorization", await oauth2_request(request))
    if answer.status_code != 200:
        return answer
    return _answer(request, DeviceOut.model_validate_json(bytes(answer.body)))


def _asking(db: DB, row: HamletVisitDevice) -> dict[str, str]:
    """Which home and which terminal ask, as the page says them."""
    peer = service.find(db, row.peer_node_id)
    return {
        "peer": peer.name,
        "device": row.device_label,
        "code": visit_devices.shown(row.user_code),
    }


def _page(request: Request, status: int = 200, **values: object) -> Response:
    context = {
        "action": DEVICE_PAGE,
        "typed": "",
        "error": "",
        "asking": None,
        "done": "",
        **values,
    }
    return request.app.state.pages.render(request, "visit_device.html", context, status)


@router.get(DEVICE_PAGE)
async def device_page(
    request: Request,
    db: DB,
    visitor: MemberVisitor,
    user_code: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """Where the member types the code a terminal shows (or arrives from its QR code)."""
    if not user_code:
        return _page(request)
    row = _waiting(request, db, user_code, visitor)
    if isinstance(row, Response):
        return row
    assert isinstance(row, HamletVisitDevice)
    return _page(request, asking=_asking(db, row))


def _wrong(request: Request) -> str:
    gettext = request.app.state.pages.gettext(request)
    return str(gettext(WRONG))


def _guesses(request: Request, visitor: Visitor) -> tuple[str, str]:
    """The keys wrong codes are counted under (the login limiter's): this member's, and the
    address's; a code of 8 letters out of 20 is not guessed 10 at a time."""
    return f"(device code) {member_of(visitor).name}", client_address(request)


def _limited(request: Request, typed: str, visitor: Visitor) -> Response | None:
    """The page saying to wait, while this member's wrong codes are over the login limits."""
    wait = request.app.state.limiter.retry_after(*_guesses(request, visitor))
    if not wait:
        return None
    gettext = request.app.state.pages.gettext(request)
    said = str(gettext(TOO_MANY)) % {"seconds": wait}
    return _page(request, 429, typed=typed, error=said)


def _waiting(request: Request, db: DB, typed: str, visitor: Visitor) -> Response | object:
    """The device sign-in this code names, or the page that says why not (and counts it)."""
    if (limited := _limited(request, typed, visitor)) is not None:
        return limited
    row = visit_devices.waiting(db, typed)
    if row is None:
        request.app.state.limiter.failed(*_guesses(request, visitor))
        return _page(request, 404, typed=typed, error=_wrong(request))
    return row


@router.post(DEVICE_PAGE)
async def device_decide(
    request: Request,
    db: DB,
    visitor: MemberVisitor,
    user_code: Annotated[str, Form(max_length=40)],
    decision: Annotated[str, Form(max_length=10)],
) -> Response:
    """The member's answer to a terminal's device sign-in: approve or refuse, once."""
    row = _waiting(request, db, user_code, visitor)
    if isinstance(row, Response):
        return row
    assert isinstance(row, HamletVisitDevice)
    asking = _asking(db, row)
    visit_devices.decide(row, member_of(visitor), approved=decision == "approve")
    return _page(request, asking=asking, done="approved" if row.approved else "refused")

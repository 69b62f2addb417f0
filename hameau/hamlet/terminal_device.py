"""A visit from a terminal that cannot reach the visitor's home (the terminal's side of the
OAuth 2.0 device authorization grant, RFC 8628): this node asks the home, over the signed
channel, for a device sign-in; the terminal shows its user code, the home's address and a QR
code; the visitor approves at home from their own phone (their password, if they type one,
goes to their home only); this node polls the home's token endpoint, at the home's interval,
whenever the waiting page asks (its script every 5 s, or a meta refresh without scripts;
not htmx, which is for members only), and on approval begins the visit as the code flow
does (terminal.begin_visit). Then the relay carries the pages.

A sign-in under way is kept in the database (device_sign_ins.py), found by a random key in a
cookie of the browser that started it, like the code flow's, so that the waiting page's
requests may reach any process serving the node; one poll of the home at a time across them."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.errors import N_
from hameau.hamlet.client import to_peer_async
from hameau.hamlet.device_sign_ins import LONGEST, DeviceSignIn, sign_ins_of
from hameau.hamlet.errors import SignInRefused
from hameau.hamlet.models import HamletPeer
from hameau.hamlet.pages import qr_svg
from hameau.hamlet.terminal import (
    PING_SECONDS,
    _on_shared_device,
    _peer,
    begin_visit,
    client_for,
    home_unreachable,
)
from hameau.node.peer import PeerFailed
from hameau.web.auth import DB, AnyVisitor

log = logging.getLogger("hameau.hamlet")
router = APIRouter(include_in_schema=False)

PAGE = "/visit/device"
COOKIE = "hameau_visit_device"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN = 5  # RFC 8628 §3.5: a "slow_down" adds five seconds to the interval


def after_refusal(sign_in: DeviceSignIn, error: str, now: float) -> None:
    """What the home's error answer to a poll means (RFC 8628 §3.5); `error` is "" when the
    home was not reached (then: try again at the interval)."""
    sign_in.unreachable = not error
    if error in ("", "authorization_pending"):
        sign_in.next_poll = now + sign_in.interval
    elif error == "slow_down":
        sign_in.interval += SLOW_DOWN
        sign_in.next_poll = now + sign_in.interval
    elif error == "access_denied":
        sign_in.outcome = "denied"
    elif error == "expired_token":
        sign_in.outcome = "expired"
    else:  # unauthorized_client, invalid_request …: this sign-in will never work
        sign_in.outcome = "refused"


def _given(answer: Any, peer: HamletPeer, nonce: str) -> DeviceSignIn:
    """The home's device authorization answer, checked for shape."""
    try:
        expires_in = min(int(answer["expires_in"]), LONGEST)
        interval = max(int(answer.get("interval") or 5), 1)
        given = {key: str(answer[key]) for key in ("device_code", "user_code", "verification_uri")}
        complete = str(answer.get("verification_uri_complete") or given["verification_uri"])
    except (KeyError, TypeError, ValueError):
        raise SignInRefused(
            "Your home's answer could not be verified; nothing was kept here."
        ) from None
    now = time.time()
    return DeviceSignIn(
        peer.id, given["device_code"], given["user_code"][:20], given["verification_uri"][:300],
        complete[:400], now + expires_in, interval, nonce, next_poll=now + interval,
    )  # fmt: skip


@router.post(PAGE)
async def device_start(
    request: Request, db: DB, visitor: AnyVisitor, home: Annotated[int, Form()]
) -> Response:
    """The terminal cannot reach the visitor's home: ask it, through this node, for a code."""
    _on_shared_device(visitor)
    peer = _peer(db, home)
    assert visitor.device is not None
    node, nonce = request.app.state.node, secrets.token_urlsafe(24)
    asked = {
        "client_id": node.identity.node_id, "scope": "openid", "nonce": nonce,
        "device": visitor.device.name,
    }  # fmt: skip
    try:
        answer = await _ask_home(node, peer, "/api/hamlet/visit/device", asked)
    except PeerFailed as failure:
        log.warning("visit: %s refused or missed a device sign-in: %s", peer.name, failure)
        if failure.answered:
            raise SignInRefused(
                "Your home %(home)s did not accept a sign-in from this terminal.", home=peer.name
            ) from None
        raise home_unreachable(peer) from None
    key = sign_ins_of(request.app).start(_given(answer, peer, nonce))
    response = RedirectResponse(PAGE, status_code=303)
    response.set_cookie(
        COOKIE, key, max_age=LONGEST, path="/visit", httponly=True, samesite="lax",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


async def poll(request: Request, peer: HamletPeer, key: str) -> DeviceSignIn | dict[str, Any]:
    """Asks the home, if the interval has passed and no other poll is under way (in this
    process or another), whether the visitor approved: the tokens once they did; else the
    sign-in as it stands (its outcome says why it is over, if it is)."""
    store, now = sign_ins_of(request.app), time.time()
    if not store.claim(key, now):  # two tabs, or the script and a reload: one poll at a time
        return store.find(key) or _forgotten()
    sign_in = store.find(key) or _forgotten()  # as the last poll, wherever it ran, left it
    if now >= sign_in.expires:
        sign_in.outcome = "expired"
        store.record(key, sign_in)
        return sign_in
    node = request.app.state.node
    form = {
        "grant_type": GRANT_TYPE, "device_code": sign_in.device_code,
        "client_id": node.identity.node_id,
    }  # fmt: skip
    try:
        answer = await _ask_home(node, peer, "/api/hamlet/visit/token", form)
    except PeerFailed as failure:
        # From the answer's arrival: the home never sees two polls closer than the interval.
        after_refusal(sign_in, _error_of(failure), time.time())
        store.record(key, sign_in)
        return sign_in
    if not isinstance(answer, dict) or not answer.get("access_token"):
        sign_in.outcome = "refused"
        store.record(key, sign_in)
        return sign_in
    return answer


async def _ask_home(node: Any, peer: HamletPeer, path: str, form: dict[str, Any]) -> Any:
    """A signed form POST to the visitor's home, with the short timeouts of a page waiting on
    it (raises PeerFailed)."""
    client = to_peer_async(node, peer, timeout=PING_SECONDS, connect=PING_SECONDS)
    try:
        return await client.call("POST", path, data=form)
    finally:
        await client.aclose()


def _forgotten() -> DeviceSignIn:
    """A sign-in forgotten while this request ran (dropped for room): over."""
    return DeviceSignIn(0, "", "", "", "", 0.0, 1.0, "", outcome="expired")


def _error_of(failure: PeerFailed) -> str:
    """The OAuth error a refused poll carries; "" when the home did not really answer."""
    if not failure.answered or (failure.code or 0) >= 500:
        return ""
    return failure.why if failure.code == 400 else "refused"


@router.get(PAGE)
async def device_wait(request: Request, db: DB, visitor: AnyVisitor) -> Response:
    """The waiting page (and its part the page's script asks for): the code, the home's address, a QR code; the
    visit begins here once the visitor approved at home."""
    _on_shared_device(visitor)
    key = request.cookies.get(COOKIE, "")
    store = sign_ins_of(request.app)
    sign_in = store.find(key)
    part = bool(request.headers.get("hx-request"))  # the script asks for the part only
    if sign_in is None:
        return _render(request, None, None, part, 200 if part else 404)
    peer = _peer(db, sign_in.peer_id)
    found = await poll(request, peer, key) if not sign_in.outcome else sign_in
    if isinstance(found, dict):  # approved: this request alone polled, so it alone begins it
        store.forget(key)
        client = client_for(request.app.state.node, peer)
        response = await begin_visit(request, visitor, peer, client, found, sign_in.nonce)
        response.delete_cookie(COOKIE, path="/visit")
        if part:  # a redirect would be followed inside the fetch: the page goes instead
            response.status_code = 200
            response.headers["HX-Redirect"] = "/"
        return response
    response = _render(request, peer, found, part)
    if found.outcome:  # refused or expired: said once, nothing of it left on the terminal
        store.forget(key)
        response.delete_cookie(COOKIE, path="/visit")
    return response


def _render(
    request: Request, peer: HamletPeer | None, sign_in: DeviceSignIn | None, part: bool,
    status: int = 200,
) -> Response:  # fmt: skip
    pages = request.app.state.pages
    qr = ""
    if sign_in is not None and not sign_in.outcome:
        label = pages.gettext(request)(N_("QR code of the address where you approve this terminal"))
        qr = qr_svg(sign_in.complete, str(label), scale=6)  # read by a phone, from a step away
    context = {"peer": peer, "sign_in": sign_in, "qr": qr}
    name = "_visit_device_status.html" if part else "visit_device_wait.html"
    response = pages.render(request, name, context, status)
    response.headers["Cache-Control"] = "no-store"
    return response

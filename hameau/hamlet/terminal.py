"""A visit, on this node's side (the terminal's): a visitor on one of this home's shared
devices picks their home among the paired peers, signs in there (OpenID Connect, the
authorization code flow with PKCE: their password is typed at their home, never here), and
comes back with a code this node exchanges over the signed channel. Their home's id token is
verified with its pinned key; the visit then goes on through the relay (relay.py).

These routes are open before any login on purpose: they are the way in for someone who is
no member here, and they only work from an enrolled shared device."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.errors import HameauError
from hameau.hamlet.client import to_peer_async, to_peer_relay
from hameau.hamlet.errors import SignInRefused, VisitUnavailable
from hameau.hamlet.models import HamletPeer
from hameau.hamlet.service import peers
from hameau.hamlet.signing import public_key
from hameau.hamlet.visitors import (
    CONNECT,
    START_COOKIE,
    START_SECONDS,
    TIMEOUT,
    VISIT_COOKIE,
    Visit,
    Visitors,
    challenge_of,
    check_id_token,
    visitors_of,
)
from hameau.node.peer import PeerFailed
from hameau.web.auth import DB, AnyVisitor, Visitor
from hameau.web.middleware import CSP

if TYPE_CHECKING:
    from hameau.node.datadir import Node
    from hameau.node.peer import AsyncPeer

log = logging.getLogger("hameau.hamlet")
router = APIRouter(include_in_schema=False)

CALLBACK = "/visit/callback"
# A relayed page waits this long for the visitor's home, connecting at most CONNECT of it.
PING_SECONDS = 5.0  # before sending the visitor home: does this node reach it?


def _on_shared_device(visitor: Visitor) -> None:
    if not visitor.on_shared_device:
        raise SignInRefused("Visits from another home start on a shared device of this home.")
    if visitor.member is not None:
        raise SignInRefused("Log out first: a visit starts from the “Who is it?” page.")


def _peer(db: DB, peer_id: int) -> HamletPeer:
    peer = db.get(HamletPeer, peer_id)
    if peer is None or peer.revoked_at is not None:
        raise SignInRefused("This home is not (or no longer) paired with this one.")
    return peer


def client_for(node: Node, peer: HamletPeer) -> AsyncPeer:
    """The signed client toward the visitor's home, with a relayed page's short timeouts."""
    return to_peer_async(node, peer, timeout=TIMEOUT, connect=CONNECT)


@router.get("/visit")
async def choose_home(request: Request, db: DB, visitor: AnyVisitor) -> Response:
    """The homes a visitor may come from: this node's paired, unrevoked peers."""
    _on_shared_device(visitor)
    homes = [peer for peer in peers(db) if peer.revoked_at is None]
    response = request.app.state.pages.render(request, "visit.html", {"homes": homes})
    # The choice's answer redirects to the home: CSP's form-action must allow its origin.
    origins = {"{0.scheme}://{0.netloc}".format(urlsplit(home.address)) for home in homes}
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", " ".join(["form-action 'self'", *sorted(origins)])
    )
    return response


def home_unreachable(peer: HamletPeer) -> VisitUnavailable:
    """What the terminal says when the visitor's home does not answer it (every sign-in)."""
    return VisitUnavailable(
        "Your home %(home)s cannot be reached from here; try again later.", home=peer.name
    )


async def _reachable(node: Node, peer: HamletPeer) -> None:
    """Whether this node reaches the home (the relay will need it): said now, in words,
    rather than after the visitor typed their password there."""
    client = to_peer_async(node, peer, timeout=PING_SECONDS, connect=PING_SECONDS)
    try:
        await client.call("GET", "/api/hamlet/ping")
    except HameauError as failure:  # no answer, an error, or one not signed by its key
        log.warning("visit: %s cannot be reached for a visit: %s", peer.name, failure)
        raise home_unreachable(peer) from None
    finally:
        await client.aclose()


@router.post("/visit/start")
async def start(
    request: Request, db: DB, visitor: AnyVisitor, home: Annotated[int, Form()]
) -> Response:
    """Off to the visitor's home to sign in, with what binds its answer to this browser."""
    _on_shared_device(visitor)
    peer = _peer(db, home)
    assert visitor.device is not None
    await _reachable(request.app.state.node, peer)
    key, pending = visitors_of(request.app).start(peer.id)
    query = {
        "response_type": "code",
        "client_id": request.app.state.node.identity.node_id,
        "redirect_uri": str(request.base_url).rstrip("/") + CALLBACK,
        "scope": "openid",
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": challenge_of(pending.verifier),
        "code_challenge_method": "S256",
        "device": visitor.device.name,
    }
    response = RedirectResponse(
        f"{peer.address}/hamlet/visit/authorize?{urlencode(query)}", status_code=303
    )
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        START_COOKIE, key, max_age=START_SECONDS, path="/visit", httponly=True,
        samesite="lax", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


async def _exchange(
    request: Request, peer: HamletPeer, client: AsyncPeer, code: str, verifier: str
) -> dict[str, Any]:
    """The home's tokens for this code, asked over the signed channel."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": str(request.base_url).rstrip("/") + CALLBACK,
        "client_id": request.app.state.node.identity.node_id,
        "code_verifier": verifier,
    }
    try:
        answer = await client.call("POST", "/api/hamlet/visit/token", data=form)
    except PeerFailed as failure:
        log.warning("visit: the token exchange with %s failed: %s", peer.name, failure)
        if failure.answered:
            raise SignInRefused(
                "Your home %(home)s did not accept this sign-in; start again.", home=peer.name
            ) from None
        raise home_unreachable(peer) from None
    if not isinstance(answer, dict) or not answer.get("access_token") or not answer.get("id_token"):
        raise SignInRefused("Your home's answer could not be verified; nothing was kept here.")
    return answer


@router.get(CALLBACK)
async def callback(
    request: Request,
    db: DB,
    visitor: AnyVisitor,
    code: Annotated[str, Query(max_length=500)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Back from the visitor's home: the sign-in checked, the visit begins."""
    _on_shared_device(visitor)
    visitors: Visitors = visitors_of(request.app)
    pending = visitors.finish(request.cookies.get(START_COOKIE, ""), state)
    if error or not code:
        raise SignInRefused("The sign-in at your home was cancelled or refused; start again.")
    peer = _peer(db, pending.peer_id)
    client = client_for(request.app.state.node, peer)
    try:
        answer = await _exchange(request, peer, client, code, pending.verifier)
    except BaseException:
        await client.aclose()
        raise
    response = await begin_visit(request, visitor, peer, client, answer, pending.nonce)
    response.delete_cookie(START_COOKIE, path="/visit")
    return response


async def begin_visit(
    request: Request,
    visitor: Visitor,
    peer: HamletPeer,
    client: AsyncPeer,
    answer: dict[str, Any],
    nonce: str,
) -> Response:
    """The visit begins from the home's tokens (a code's or a device sign-in's): its id token
    verified with the home's pinned key, the visit kept, its cookie set; off to the home page."""
    node = request.app.state.node
    try:
        claims = check_id_token(
            str(answer["id_token"]), public_key(peer.public_key), peer.node_id, peer.address,
            node.identity.node_id, nonce,
        )  # fmt: skip
    except BaseException:
        await client.aclose()
        raise
    lifetime = min(float(answer.get("expires_in") or 3600), 24 * 3600)
    idle = node.settings.shared_idle_minutes * 60 + 60  # the home's idle logout comes first
    visit = Visit(
        peer.id, peer.name, str(claims.get("name") or ""), str(answer["access_token"]),
        time.time() + lifetime, idle, client=client,
        relay=to_peer_relay(node, peer, timeout=TIMEOUT, connect=CONNECT),
    )  # fmt: skip
    response = RedirectResponse("/", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        VISIT_COOKIE, visitors_of(request.app).open(visit), path="/", httponly=True,
        samesite="lax", secure=request.url.scheme == "https",
    )  # fmt: skip
    assert visitor.device is not None  # _on_shared_device
    log.info("visit: a visitor from %s began on device %s", peer.name, visitor.device.name)
    return response

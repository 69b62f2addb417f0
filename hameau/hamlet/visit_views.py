"""Visits, the home's side, as routes: the sign-in page a visitor's browser opens from a
paired home's terminal, the token and revocation endpoints that home's node calls (signed),
the OpenID Connect discovery and keys, and "End this visit" on the member's sessions page.

The sign-in page sets no cookie: the terminal keeps nothing of this node. Its form checks
the password exactly as the login form does (accounts/login.py:check_password: Argon2, the
same limits)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from hameau.accounts.login import check_password
from hameau.errors import HameauError
from hameau.hamlet import service, visits
from hameau.hamlet.api import SignedPeer, _answer
from hameau.hamlet.errors import VisitRefused
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.middleware import CSP
from hameau.web.openapi import RowId, errors

# The provider (Authlib, joserfc) loads at the first visit's request, not at start: the node
# attaches this module's sessions section at start (tests/e2e/test_idle_memory.py).
if TYPE_CHECKING:
    from authlib.oauth2 import OAuth2Error

    from hameau.hamlet.provider import VisitServer

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/hamlet/visit", tags=["hamlet"])
AUTHORIZE = "/hamlet/visit/authorize"
JWKS = "/hamlet/visit/jwks"


def _refused(error: OAuth2Error) -> VisitRefused:
    """One sentence for a sign-in link this node will not serve."""
    from authlib.oauth2.rfc6749 import InvalidClientError

    if isinstance(error, InvalidClientError):
        return VisitRefused(
            "This terminal's home is not paired with this home server; nothing was done."
        )
    if "redirect" in str(error.description or "").lower():
        return VisitRefused(
            "This sign-in link does not lead back to a paired home's terminal; nothing was done."
        )
    return VisitRefused(
        "This sign-in link is incomplete or wrong (it needs PKCE with S256); start again"
        " from the terminal."
    )


async def _consent(request: Request, db: DB) -> tuple[VisitServer, Any, Any]:
    """The provider, Authlib's request and its checked grant; VisitRefused (400) otherwise."""
    from authlib.oauth2 import OAuth2Error

    from hameau.hamlet.provider import make_server, oauth2_request

    server = make_server(request, db)
    asked = await oauth2_request(request, query_only=True)
    try:
        grant = server.get_consent_grant(asked)
    except OAuth2Error as error:
        raise _refused(error) from None
    return server, asked, grant


def _page(
    request: Request, grant: Any, error: str = "", status: int = 200, **values: Any
) -> HTMLResponse:
    peer = grant.request.client.peer
    context = {
        "peer": peer, "device": grant.request.payload.data.get("device", "")[:100],
        "action": AUTHORIZE + "?" + request.url.query, "error": error, **values,
    }  # fmt: skip
    response = request.app.state.pages.render(request, "visit_authorize.html", context, status)
    # The form's answer redirects to the terminal: CSP's form-action must allow its origin.
    parts = urlsplit(peer.address)
    origin = f"{parts.scheme}://{parts.netloc}"
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {origin}"
    )
    return response


@router.get(AUTHORIZE)
async def authorize_form(request: Request, db: DB) -> Response:
    """The sign-in page of a visit (public: the visitor is not logged in here)."""
    _, _, grant = await _consent(request, db)
    return _page(request, grant)


@router.post(AUTHORIZE)
async def authorize(
    request: Request,
    db: DB,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    """The visitor's name and password, checked as the login form does; on success back to
    the terminal with a one-time code. No cookie is set here."""
    server, asked, grant = await _consent(request, db)
    try:
        member = await check_password(request, db, name, password)
    except HameauError as failure:
        message = failure.render(request.app.state.pages.gettext(request))
        response = _page(request, grant, message, failure.status, name=name.strip().lower())
        response.headers.update(failure.headers)
        return response
    return server.create_authorization_response(asked, grant_user=member, grant=grant)


class TokenOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    id_token: str
    scope: str


@api.post("/token", response_model=TokenOut, responses=errors(400, 401, 403))
async def token(request: Request, db: DB, peer: SignedPeer) -> Response:
    """A paired node exchanges a visit's code (OAuth 2.0 token request, form-encoded; the
    request's signature is the client's authentication). The answer is signed."""
    from hameau.hamlet.provider import make_server, oauth2_request

    server = make_server(request, db, signer=peer)
    answer = server.create_token_response(await oauth2_request(request))
    if answer.status_code != 200:
        return answer
    return _answer(request, TokenOut.model_validate_json(bytes(answer.body)))


class Revoked(BaseModel):
    revoked: bool = True


@api.post("/revoke", response_model=Revoked, responses=errors(400, 401, 403))
async def revoke(request: Request, db: DB, peer: SignedPeer) -> Response:
    """A paired node ends a visit it holds the token of (RFC 7009: 200 even if unknown)."""
    from hameau.hamlet.provider import make_server, oauth2_request

    server = make_server(request, db, signer=peer)
    answer = server.create_endpoint_response("revocation", await oauth2_request(request))
    if answer.status_code != 200:
        return answer
    return _answer(request, Revoked())


@router.get("/.well-known/openid-configuration")
async def discovery(request: Request, db: DB) -> Response:
    """OpenID Connect discovery of the visits' provider (public, as the standard says)."""
    from hameau.hamlet.provider import AUTH_METHOD, GRANT_TYPES, SCOPES, make_server

    issuer = make_server(request, db).issuer
    return JSONResponse(
        {
            "issuer": issuer,
            "authorization_endpoint": issuer + AUTHORIZE,
            "token_endpoint": issuer + "/api/hamlet/visit/token",
            "revocation_endpoint": issuer + "/api/hamlet/visit/revoke",
            "device_authorization_endpoint": issuer + "/api/hamlet/visit/device",
            "jwks_uri": issuer + JWKS,
            "response_types_supported": ["code"],
            "grant_types_supported": list(GRANT_TYPES),
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "scopes_supported": list(SCOPES),
            "claims_supported": ["sub", "name", "nonce", "iss", "aud", "exp", "iat"],
            "token_endpoint_auth_methods_supported": [AUTH_METHOD],
            "revocation_endpoint_auth_methods_supported": [AUTH_METHOD],
            "code_challenge_methods_supported": ["S256"],
        }
    )


@router.get(JWKS)
async def jwks(request: Request) -> Response:
    """The key id_tokens are signed with: this node's Ed25519 key (public, for verifiers)."""
    identity = request.app.state.node.identity
    x = base64.urlsafe_b64encode(identity.public_bytes).decode().rstrip("=")
    key = {
        "kty": "OKP", "crv": "Ed25519", "x": x, "kid": identity.node_id, "use": "sig",
        "alg": "EdDSA",
    }  # fmt: skip
    return JSONResponse({"keys": [key]})


@router.post("/account/visits/{visit_id}/end")
async def end_visit(db: DB, visitor: MemberVisitor, visit_id: RowId) -> Response:
    """The member ends one of their visits, from anywhere: its next request is refused."""
    visits.end_for_member(db, member_of(visitor), visit_id)
    return RedirectResponse("/account/sessions?done=revoked", status_code=303)  # shown ended


def sessions_section(request: Request, db: DB, visitor: Any) -> tuple[str, set[int]]:
    """The sessions page's "Visits from other homes" (accounts/views.py renders what parts
    give): the HTML, and the login sessions behind visits, which that page lists here only."""
    member = member_of(visitor)
    listed = visits.for_member(db, member, request.app.state.lifetimes)
    peers = {peer.node_id: peer for peer in service.peers(db)}
    pages = request.app.state.pages
    context = {"visits": listed, "peers": peers, "lasted": visits.minutes}
    html = pages.render(request, "_visits.html", context).body.decode()
    return html, visits.login_session_ids(db, member)

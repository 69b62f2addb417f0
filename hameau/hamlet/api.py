"""The hamlet's node-to-node routes: pairing (the joiner proves the invitation's secret and
its own key) and a signed ping. Every route here is for nodes, not people: no session, no
app password, only signatures (hameau/hamlet/signing.py), and only over HTTPS (403 for a
request that came in plain HTTP; behind a reverse proxy that ends TLS, the scheme is the
one its X-Forwarded-Proto says, when the `forwarded_allow_ips` setting names it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from hameau.errors import BadRequest, Forbidden
from hameau.hamlet import service, signing
from hameau.hamlet.answers import signed_answer
from hameau.hamlet.models import HamletPeer
from hameau.web.auth import DB
from hameau.web.openapi import errors

router = APIRouter(prefix="/api/hamlet", tags=["hamlet"])


def _incoming(request: Request) -> signing.Incoming:
    """The request as it was sent: the Host it named, its raw path and query."""
    scope = request.scope
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    url = f"{scope['scheme']}://{request.headers.get('host', '')}{path.decode('latin-1')}"
    return signing.Incoming(
        scope["method"], url + (f"?{query.decode('latin-1')}" if query else ""), request.headers
    )


def _over_tls(request: Request) -> None:
    """Peers talk over HTTPS only: what they carry is members' data."""
    if request.url.scheme != "https":
        client = request.client.host if request.client else "?"
        signing.log.warning("refused a node-to-node request over plain HTTP from %s", client)
        raise Forbidden(
            "Home servers talk to each other over HTTPS only: run this home server with"
            " `hameau serve --tls`."
        )


async def _checked(request: Request, db: DB, find: Any) -> tuple[str, bytes]:
    """The keyid of a valid, fresh signature on this request (over HTTPS), and the body it
    covers."""
    _over_tls(request)
    node = request.app.state.node
    skew = node.settings.hamlet_clock_skew_seconds
    body = await request.body()
    key_id, nonce, expires = signing.verify(
        _incoming(request), body, find, node.identity.node_id, skew
    )
    signing.remember_nonce(db, key_id, nonce, expires, skew)
    request.state.hamlet_nonce = nonce  # the answer is signed with it (answers.py)
    return key_id, body


async def signed_peer(request: Request, db: DB) -> HamletPeer:
    """The paired peer that signed this request; 401 (logged) for anything else."""
    key_id, _ = await _checked(request, db, lambda key_id: service.trusted_key(db, key_id))
    peer = service.seen(db, key_id)
    db.commit()  # the nonce and the sight, at once: seen is seen, whatever the route does
    return peer


SignedPeer = Annotated[HamletPeer, Depends(signed_peer)]


async def signed_stream(request: Request, db: DB) -> HamletPeer:
    """The paired peer that signed this stream of contents by its index's digest (moving
    home: the route reads the body and checks the index against that digest, and each
    record against its hash); 401 (logged) for anything else. The nonce is kept as for
    `signed_peer`: a stream is not replayed either."""
    _over_tls(request)
    node = request.app.state.node
    skew = node.settings.hamlet_clock_skew_seconds
    key_id, nonce, expires = signing.verify(
        _incoming(request), None, lambda key_id: service.trusted_key(db, key_id),
        node.identity.node_id, skew, required=signing.STREAM_REQUIRED,
    )  # fmt: skip
    signing.remember_nonce(db, key_id, nonce, expires, skew)
    request.state.hamlet_nonce = nonce
    peer = service.seen(db, key_id)
    db.commit()
    return peer


SignedStream = Annotated[HamletPeer, Depends(signed_stream)]


class Hello(BaseModel):
    node_id: str
    name: str
    peer: str
    received: int = Field(description="Bytes of the request's body, as checked by its digest.")


def _answer(request: Request, data: BaseModel) -> Response:
    identity = request.app.state.node.identity
    return signed_answer(data, _incoming(request), identity, request.state.hamlet_nonce)


@router.get("/ping", response_model=Hello, responses=errors(401, 403), operation_id="hamlet_ping")
@router.post(
    "/ping", response_model=Hello, responses=errors(401, 403), operation_id="hamlet_ping_body"
)
async def ping(request: Request, peer: SignedPeer) -> Response:
    """A paired node checks that this one is up and still trusts it (signed request; the
    answer is signed too)."""
    node = request.app.state.node
    body = await request.body()
    hello = Hello(node_id=node.identity.node_id, name=node.name, peer=peer.name, received=len(body))
    return _answer(request, hello)


class PairIn(BaseModel):
    secret: str = Field(max_length=200)
    name: str = Field(min_length=1, max_length=100)
    address: str = Field(min_length=1, max_length=300)
    public_key: str = Field(min_length=1, max_length=64)
    tls: str = Field(
        min_length=1, max_length=64, description="Its HTTPS certificate's fingerprint, to pin."
    )


class PairOut(BaseModel):
    node_id: str
    name: str
    public_key: str
    tls: str = Field(description="This node's HTTPS certificate's fingerprint.")


def _served_fingerprint(request: Request) -> str:
    """The fingerprint of the certificate this node serves (read once per process)."""
    state = request.app.state
    if getattr(state, "hamlet_tls", None) is None:
        from hameau.node import tls

        state.hamlet_tls = tls.served(state.node.settings).fingerprint
    return str(state.hamlet_tls)


def _key_of(given: PairIn) -> Any:
    """A keyid resolver that knows only the joiner's own key, from its request."""
    try:
        key = signing.public_key(given.public_key)
    except ValueError:
        raise BadRequest("The public key given is not an Ed25519 key.") from None
    own_id = signing.node_id_of(key.public_bytes_raw())
    return lambda key_id: key if key_id == own_id else None


# The body is read raw (its digest is signed), so its schema is declared here.
PAIR_BODY = {
    "required": True,
    "content": {"application/json": {"schema": PairIn.model_json_schema()}},
}


@router.post(
    "/pair",
    response_model=PairOut,
    responses=errors(400, 401, 403),
    openapi_extra={"requestBody": PAIR_BODY},
)
async def pair(request: Request, db: DB) -> Response:
    """Another node joins with this node's invitation: it proves the secret, and its key by
    signing the request with it; both keys are pinned, and both certificates' fingerprints
    (the joiner checks ours by the invitation's fingerprints)."""
    _over_tls(request)
    try:
        given = PairIn.model_validate_json(await request.body())
    except ValidationError:
        raise BadRequest(
            "A pairing request needs a secret, a name, an address, a key and a certificate"
            " fingerprint."
        ) from None
    address = service.check_address(given.address)
    key_id, _ = await _checked(request, db, _key_of(given))
    db.commit()  # the nonce, even if the invitation is refused
    service.redeem(db, given.secret, key_id)
    service.pin(db, given.public_key, given.name, address, given.tls)
    node = request.app.state.node
    answer = PairOut(
        node_id=node.identity.node_id, name=node.name,
        public_key=node.identity.public_key_b64, tls=_served_fingerprint(request),
    )  # fmt: skip
    return _answer(request, answer)

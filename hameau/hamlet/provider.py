"""The OpenID Connect provider of visits, on Authlib: the authorization code grant with PKCE
(S256, required) and OpenID Connect's id_token, over Starlette requests.

Authlib has no Starlette server integration; this module is one: `oauth2_request` turns a
Starlette request into Authlib's, `VisitServer.handle_response` turns Authlib's answers back.
A server is made per request (`make_server`): it holds the request's database session, the
issuer as the request named it, and the peer that signed the request, if any.

Clients are the paired peers: client_id is the peer's node_id, the only redirect_uri is
`<peer address>/visit/callback`, and a client authenticates at the token and revocation
endpoints by the request's signature (method `hamlet_signature`): the signer must be the
client_id. The id_token is signed EdDSA with this node's Ed25519 key (kid: its node_id); its
`sub` is pseudonymous per (member, peer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialMixin,
    ExpiredTokenError,
)
from authlib.oidc.core import OpenIDCode
from joserfc.jwk import OKPKey
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hameau.accounts import sessions
from hameau.accounts.models import Member
from hameau.hamlet import service, visit_devices, visits
from hameau.hamlet.models import HamletPeer
from hameau.hamlet.visit_models import HamletVisitCode, HamletVisitDevice
from hameau.node.datadir import Node
from hameau.node.db import utcnow

AUTH_METHOD = "hamlet_signature"
SCOPES = ("openid",)
ID_TOKEN_LIFETIME = 300  # seconds: the terminal reads it at once
GRANT_TYPES = ("authorization_code", DEVICE_CODE_GRANT_TYPE)


class VisitRequest(OAuth2Request):
    """Authlib's view of a Starlette request: the query's parameters (authorization) or the
    form's (token, revocation), never both mixed."""

    def __init__(self, request: Request, body: bytes) -> None:
        uri = str(request.url)
        # Peers are authenticated by signatures, not by the transport: Authlib's https-only
        # check is given the https form of the address (TLS between nodes is the TLS lane's).
        super().__init__(request.method, "https" + uri[uri.index(":") :], headers=request.headers)
        self.uri = uri
        self._args = dict(request.query_params)
        is_form = request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        )
        self._form = dict(parse_qsl(body.decode("latin-1"))) if is_form and body else {}
        self.payload = BasicOAuth2Payload(self._form if request.method == "POST" else self._args)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


async def oauth2_request(request: Request, query_only: bool = False) -> VisitRequest:
    """The request for Authlib; `query_only`: its parameters from the query even on a POST
    (the sign-in form posts the name and password; the OAuth parameters stay in its address)."""
    body = b"" if query_only else request.scope.get("hameau.body", b"") or await request.body()
    made = VisitRequest(request, body)
    if query_only:
        made.payload = BasicOAuth2Payload(made.args)
    return made


@dataclass
class PeerClient(ClientMixin):
    """A paired, unrevoked peer as an OAuth client."""

    peer: HamletPeer

    def get_client_id(self) -> str:
        return self.peer.node_id

    def get_default_redirect_uri(self) -> str:
        return visits.callback_of(self.peer)

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(item for item in (scope or "").split() if item in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == visits.callback_of(self.peer)

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == AUTH_METHOD

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


class CodeRecord:
    """A stored code as Authlib reads it."""

    def __init__(self, row: HamletVisitCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.created_at.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


class S256Required(CodeChallenge):
    """PKCE with S256 on every sign-in (Authlib requires it of public clients only)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required.")
        super().validate_code_challenge(grant, redirect_uri)


class VisitCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [AUTH_METHOD]

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        asked = visits.CodeRequest(
            peer_node_id=request.client.get_client_id(), redirect_uri=data["redirect_uri"],
            scope=request.scope, nonce=data.get("nonce"),
            code_challenge=data["code_challenge"], code_challenge_method="S256",
            device_label=str(data.get("device", ""))[:100],
        )  # fmt: skip
        visits.save_code(self.server.db, code, request.user, asked)

    def query_authorization_code(self, code: str, client: PeerClient) -> CodeRecord | None:
        found = visits.take_code(self.server.db, code, client.get_client_id())
        return CodeRecord(found) if found is not None else None

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        pass  # taken (deleted) when it was read: a code is never used twice

    def authenticate_user(self, authorization_code: CodeRecord) -> Member | None:
        member = self.server.db.get(Member, authorization_code.row.member_id)
        return member if member is not None and member.active else None


class DeviceRecord(DeviceCredentialMixin):
    """A device sign-in as Authlib reads it (and the id_token's claims, as a code's)."""

    def __init__(self, row: HamletVisitDevice) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.peer_node_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_user_code(self) -> str:
        return self.row.user_code

    def is_expired(self) -> bool:
        return visit_devices.expired(self.row.expires_at, utcnow())

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.created_at.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None  # approved from a session at home, not a password typed for this


class VisitDeviceEndpoint(DeviceAuthorizationEndpoint):
    """A peer's terminal asks for a device sign-in (signed: the signer is the client)."""

    CLIENT_AUTH_METHODS = [AUTH_METHOD]
    EXPIRES_IN = visit_devices.EXPIRES_IN
    INTERVAL = visit_devices.INTERVAL

    def authenticate_client(self, request: Any) -> PeerClient:
        self.request = request  # save_device_credential reads its nonce and device
        return super().authenticate_client(request)  # type: ignore[no-any-return]

    def get_verification_uri(self) -> str:
        return self.server.issuer + visit_devices.PAGE

    def generate_user_code(self) -> str:
        found = visit_devices.new_user_code()
        while visit_devices.user_code_taken(self.server.db, found):
            found = visit_devices.new_user_code()
        return found

    def save_device_credential(self, client_id: str, scope: str, data: dict[str, Any]) -> None:
        asked = self.request.payload.data
        visit_devices.forget_expired(self.server.db)
        visit_devices.save(
            self.server.db, data["device_code"], data["user_code"], client_id,
            self.request.client.get_allowed_scope(scope) or "openid",
            str(asked.get("nonce") or "")[:200] or None, str(asked.get("device", "")),
        )  # fmt: skip


class VisitDeviceGrant(DeviceCodeGrant):
    """The terminal's node polls with its device code; once the member approved, the same
    tokens and visit as the code flow (save_token), once."""

    TOKEN_ENDPOINT_AUTH_METHODS = [AUTH_METHOD]

    def query_device_credential(self, device_code: str) -> DeviceRecord | None:
        found = visit_devices.by_device_code(self.server.db, device_code)
        self.record = DeviceRecord(found) if found is not None else None
        return self.record

    def query_user_grant(self, user_code: str) -> tuple[Member, bool] | None:
        row = self.record.row if self.record is not None else None
        if row is None or row.approved is None or row.member_id is None:
            return None
        member = self.server.db.get(Member, row.member_id)
        return member, bool(row.approved and member is not None and member.active)

    def should_slow_down(self, credential: DeviceRecord) -> bool:
        return visit_devices.polled(credential.row)

    def validate_device_credential(self, credential: DeviceRecord) -> Member:
        member = super().validate_device_credential(credential)
        if not visit_devices.take(self.server.db, credential.row):
            raise ExpiredTokenError()  # another poll took it just now: one visit only
        self.request.authorization_code = credential  # the visit and id_token read it
        return member  # type: ignore[no-any-return]


class VisitIdToken(OpenIDCode):
    """The id_token: EdDSA with the node's key; iss as the request named this node."""

    def resolve_client_private_key(self, client: PeerClient) -> OKPKey:
        return self.server.key

    def get_client_algorithm(self, client: PeerClient) -> str:
        return "EdDSA"

    def get_encode_header(self, client: PeerClient) -> dict[str, str]:
        return {"alg": "EdDSA", "kid": self.server.node.identity.node_id, "typ": "JWT"}

    def get_compatible_claims(self, request: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.server.issuer, "aud": request.client.get_client_id(), "iat": now,
            "exp": now + ID_TOKEN_LIFETIME, "auth_time": now,
        }  # fmt: skip

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # a code is used once; the terminal checks its own nonce

    def generate_user_info(self, user: Member, scope: str) -> dict[str, str]:
        peer = self.server.signer
        subject = visits.pseudonym(self.server.node.secret, user.id, peer.node_id)
        return {"sub": subject, "name": user.display_name}

    def __call__(self, grant: Any) -> None:
        self.server = grant.server
        super().__call__(grant)


class VisitToken:
    """A visit's access token as Authlib's revocation endpoint reads it."""

    def __init__(self, token: str, client_id: str) -> None:
        self.token, self.client_id = token, client_id

    def check_client(self, client: PeerClient) -> bool:
        return client.get_client_id() == self.client_id


class VisitRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = [AUTH_METHOD]

    def query_token(self, token_string: str, token_type_hint: str | None) -> VisitToken | None:
        signer = self.server.signer
        return VisitToken(token_string, signer.node_id) if signer is not None else None

    def revoke_token(self, token: VisitToken, request: Any) -> None:
        visits.end_by_token(self.server.db, token.token, token.client_id)


class VisitServer(AuthorizationServer):
    """One request's provider: its database session, its issuer and its signer."""

    def __init__(
        self,
        node: Node,
        db: Session,
        issuer: str,
        lifetimes: sessions.Lifetimes,
        signer: HamletPeer | None,
    ) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.node, self.db, self.issuer, self.signer = node, db, issuer, signer
        self.lifetimes = lifetimes
        self.key = OKPKey.import_key(node.identity.private_key)
        self.visit_token: str | None = None
        self.register_token_generator("default", self._token)
        self.register_client_auth_method(AUTH_METHOD, self._by_signature)
        self.register_grant(VisitCodeGrant, [S256Required(required=True), VisitIdToken()])
        self.register_grant(VisitDeviceGrant, [VisitIdToken()])
        self.register_endpoint(VisitRevocation)
        self.register_endpoint(VisitDeviceEndpoint)

    def query_client(self, client_id: str) -> PeerClient | None:
        if not client_id or len(client_id) > 40 or service.trusted_key(self.db, client_id) is None:
            return None
        return PeerClient(service.find(self.db, client_id))

    def _by_signature(self, query_client: Any, request: VisitRequest) -> PeerClient | None:
        """The signer is the client: its client_id must be the node that signed."""
        client_id = request.payload.client_id or (self.signer.node_id if self.signer else "")
        if self.signer is None or client_id != self.signer.node_id:
            return None
        return query_client(client_id)

    def _token(self, **given: Any) -> dict[str, Any]:
        """The access token is made with the visit, in save_token; here only its shape (the
        same for a code and a device sign-in)."""
        lifetime = int(visits.VISIT_LIFETIME.total_seconds())
        return {"token_type": "Bearer", "expires_in": lifetime, "scope": given.get("scope")}

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        assert self.signer is not None  # a token request is always signed
        granted = request.authorization_code.row  # a code's or an approved device sign-in's
        _, access = visits.start(self.db, self.node.secret, self.lifetimes, granted, self.signer)
        token["access_token"] = access  # before the id_token's at_hash is computed

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        assert isinstance(request, OAuth2Request)  # made by oauth2_request, body read
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints here")

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body or b"", status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass  # nothing listens to Authlib's signals here


def make_server(request: Request, db: Session, signer: HamletPeer | None = None) -> VisitServer:
    """The provider for this request: the issuer is this node's address as the request
    named it (scheme and host)."""
    issuer = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    state = request.app.state
    return VisitServer(state.node, db, issuer, state.lifetimes, signer)

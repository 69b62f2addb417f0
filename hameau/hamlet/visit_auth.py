"""Requests a paired home relays for a visiting member: `Authorization: Bearer hv_…` (the
visit's access token) on a request signed by that home (RFC 9421, for this node).

This middleware checks both (the signature as every node-to-node request's, the token as
bound to the signer and not ended) and then hands the request to the app as the visit's
shared login session (web/auth.py and the CSRF check read `scope[VISIT_SESSION]`), so every
page and API works for the member with the shared devices' rules. Anything else with such a
token is refused with 401 before the app sees it. Answers to relayed requests never carry
Set-Cookie: the terminal keeps nothing of this node.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
from typing import IO

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hameau.accounts.sessions import Lifetimes
from hameau.errors import HameauError
from hameau.hamlet import service, signing, visits
from hameau.hamlet.errors import VisitEnded
from hameau.node.datadir import Node
from hameau.web.csrf import VISIT_SESSION
from hameau.web.errors import error_response

CHUNK = 1 << 16
SPOOL_IN_MEMORY = 1 << 20  # larger relayed bodies (uploads) wait on disk, not in memory
DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/=]+):")


def _token(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value.startswith(visits.TOKEN_PREFIX) else None


async def _spooled(receive: Receive) -> tuple[IO[bytes], str]:
    """A streamed body read to a spool, and its SHA-256 (base64), for the Content-Digest."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (replayed)
    digest = hashlib.sha256()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        digest.update(chunk)
        spool.write(chunk)
        if not message.get("more_body", False):
            break
    spool.seek(0)
    return spool, base64.b64encode(digest.digest()).decode()


def _replay(spool: IO[bytes], receive: Receive) -> Receive:
    """The spooled body, chunk by chunk; then the client's own messages (a disconnect)."""

    async def replay() -> Message:
        if spool.closed:
            return await receive()
        chunk = spool.read(CHUNK)
        if chunk:
            return {"type": "http.request", "body": chunk, "more_body": True}
        spool.close()
        return {"type": "http.request", "body": b"", "more_body": False}

    return replay


class VisitAuthentication:
    """Relayed visit requests in, as the visit's session; refused with 401 otherwise."""

    def __init__(self, app: ASGIApp, node: Node) -> None:
        self.app, self.node = app, node
        self.lifetimes = Lifetimes.from_settings(node.settings)

    def passes(self, scope: Scope) -> bool:
        """Whether this request goes on to the app untouched (`web/front.py`): no visit's token."""
        return _token(Headers(scope=scope)) is None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _token(Headers(scope=scope)) if scope["type"] == "http" else None
        if token is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        # A streamed upload is not read yet: the signature (over its Content-Digest header)
        # and the visit are checked first, then the body against that digest.
        streamed = "hameau.body" not in scope and has_body
        try:
            body = None if streamed else scope.get("hameau.body", b"")
            scope[VISIT_SESSION] = self._check(scope, body, token)
        except HameauError as error:
            await self._refuse(scope, receive, send, error)
            return
        if streamed:
            spool, digest = await _spooled(receive)
            said = DIGEST.search(headers.get("content-digest", ""))
            if said is None or said.group(1) != digest:
                spool.close()
                refused = signing.refuse("the body does not match its Content-Digest")
                await self._refuse(scope, receive, send, refused)
                return
            receive = _replay(spool, receive)

        async def send_without_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"set-cookie"
                ]
            await send(message)

        await self.app(scope, receive, send_without_cookies)

    def _check(self, scope: Scope, body: bytes | None, token: str) -> str:
        """The secret of the visit's session: the signature is a paired peer's, for this
        node, fresh and not replayed, and the token is that peer's ongoing visit."""
        from hameau.hamlet.api import _incoming  # the peer API's routes load with a visit only

        skew = self.node.settings.hamlet_clock_skew_seconds
        with self.node.sessions() as db:
            key_id, nonce, expires = signing.verify(
                _incoming(Request(scope)), body, lambda key_id: service.trusted_key(db, key_id),
                self.node.identity.node_id, skew,
            )  # fmt: skip
            signing.remember_nonce(db, key_id, nonce, expires, skew)
            visit = visits.live(db, token, key_id, self.lifetimes)
            db.commit()  # the nonce, the sight, or the end the visit came to
            if visit is None:
                signing.log.warning("refused a relayed request of %s: no such visit", key_id)
                raise VisitEnded(
                    "This visit has ended; sign in again from the terminal.",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},  # RFC 6750
                )
        return visits.session_secret(self.node.secret, token)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, error: HameauError) -> None:
        await error_response(Request(scope, receive), error)(scope, receive, send)

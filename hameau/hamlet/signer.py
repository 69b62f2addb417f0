"""The httpx side of signed node-to-node requests (hamlet/signing.py says what a signature
covers): an httpx.Auth that signs each request, and the relay's variant that streams. Its own
module because it imports httpx and http-message-signatures at the top: hamlet/client.py
imports it when it builds a client, so a node at rest never loads them."""

from __future__ import annotations

from collections.abc import Generator

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

from hameau.hamlet.signing import INDEX, AnswerCheck, sign


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, key_id: str, private: Ed25519PrivateKey) -> None:
        self.key_id, self.private = key_id, private

    def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey:
        return self.private


class Signer(httpx.Auth):
    """Signs every request of an httpx client (node/peer.py's `signer`) for one audience, and
    checks each answer with `check` when given."""

    requires_request_body = True
    requires_response_body = True

    def __init__(
        self,
        key_id: str,
        private: Ed25519PrivateKey,
        audience: str,
        check: AnswerCheck | None = None,
    ) -> None:
        self.key_id, self.audience, self.check = key_id, audience, check
        self._signer = HTTPMessageSigner(
            signature_algorithm=algorithms.ED25519, key_resolver=_OneKey(key_id, private)
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Accept-Encoding"] = "identity"  # the digest is of the bytes sent
        nonce = sign(self._signer, request, self.key_id, self.audience)
        response = yield request
        if self.check is not None:
            self.check(response, nonce)


class RelaySigner(Signer):
    """Signs like any peer request; the answer is not read first, so it can stream back, and
    a body given with its Content-Digest (a spooled upload) streams out, signed by the digest."""

    requires_request_body = False
    requires_response_body = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Accept-Encoding"] = "identity"
        sign(self._signer, request, self.key_id, self.audience,
             digest=request.headers.get("Content-Digest"))  # fmt: skip
        yield request


class StreamSigner(Signer):
    """Signs a stream of contents by its index's digest (the `Hameau-Index-Digest` header its
    caller sets; hamlet/signing.py), so its body streams out unread; the answer is checked
    like any other."""

    requires_request_body = False

    @classmethod
    def like(cls, signer: Signer) -> StreamSigner:
        """The same key, audience and answer check as ``signer``."""
        made = cls.__new__(cls)
        made.__dict__.update(signer.__dict__)
        return made

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Accept-Encoding"] = "identity"
        index = request.headers[INDEX]
        nonce = sign(self._signer, request, self.key_id, self.audience, index=index)
        response = yield request
        if self.check is not None:
            self.check(response, nonce)

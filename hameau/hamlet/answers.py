"""Signed answers: a node answers a peer's signed request with a signature of its own (RFC
9421), over the status, the request's method, authority and path, the answer's
Content-Type and Content-Digest, with the request's nonce, so the asker knows the answer
came from the key it pinned and answers this very request (not an earlier one replayed).

Only successful answers are signed; refusals (4xx, 5xx) are not, and change nothing on the
asker's side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hameau.hamlet.errors import AnswerRefused
from hameau.hamlet.signing import LIFETIME, TAG, Incoming, log
from hameau.node.identity import NodeIdentity

if TYPE_CHECKING:  # http-message-signatures, httpx, cryptography: at the first signed exchange
    import httpx
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from pydantic import BaseModel  # the answering side's: a command asking a peer loads
    from starlette.responses import Response  # neither (hameau move: imports 0.1 s less)

COVERED = ("@status", '"@method";req', '"@authority";req', '"@path";req', "content-type")
REQUIRED = (*COVERED, "content-digest")


@dataclass
class Outgoing:
    """The view of an answer the library signs: its status, headers and the request."""

    status_code: int
    headers: Any
    request: Incoming


def signed_answer(data: BaseModel, asked: Incoming, identity: NodeIdentity, nonce: str) -> Response:
    """A JSON answer signed with this node's key, bound to the request by its nonce."""
    body = data.model_dump_json().encode()
    return signed_content(body, "application/json", asked, identity, nonce)


def signed_content(
    body: bytes,
    media_type: str,
    asked: Incoming,
    identity: NodeIdentity,
    nonce: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Any successful answer signed the same way (raw bytes: a peer's backup objects)."""
    from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
    from starlette.responses import Response

    response = Response(body, status_code=status, media_type=media_type, headers=headers)
    keys = MappingKeyResolver(public_keys={}, private_keys={identity.node_id: identity.private_key})
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=keys)
    now = datetime.now(UTC)
    signer.sign(
        Outgoing(status, response.headers, asked), key_id=identity.node_id, created=now,
        expires=now + timedelta(seconds=LIFETIME), nonce=nonce, tag=TAG,
        covered_component_ids=COVERED, body=body,
    )  # fmt: skip
    return response


def check_answer(
    response: httpx.Response, key: Ed25519PublicKey | None, key_id: str, nonce: str
) -> None:
    """AnswerRefused unless a successful answer is signed by `key` for the request of `nonce`."""
    if response.status_code >= 400:
        return
    from http_message_signatures import (
        HTTPMessageSignaturesException,
        HTTPMessageVerifier,
        InvalidSignature,
        MappingKeyResolver,
        algorithms,
    )

    keys = MappingKeyResolver(public_keys={key_id: key} if key else {}, private_keys={})
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=keys)
    verifier.max_clock_skew = timedelta(seconds=LIFETIME)  # the asker's own skew is unknown
    try:
        result = verifier.verify(
            response, max_age=timedelta(seconds=LIFETIME), expect_tag=TAG,
            require_components=REQUIRED, body=response.content,
        )[0]  # fmt: skip
        if result.parameters.get("nonce") != nonce or result.parameters["keyid"] != key_id:
            raise InvalidSignature("the answer is for another request or from another node")
    except HTTPMessageSignaturesException as error:  # InvalidSignature, or a malformed field
        log.warning("refused the answer of %s: %s", key_id, error or "it does not verify")
        raise AnswerRefused(
            "The answer of %(address)s is not signed by the home server paired with this"
            " one; nothing was done here.",
            address=str(response.request.url.copy_with(path="/", query=None)),
        ) from None


KeyFor = Callable[["httpx.Response"], "Ed25519PublicKey | None"]

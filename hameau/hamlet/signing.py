"""Signed node-to-node requests: HTTP Message Signatures (RFC 9421, Ed25519) with the
request's body bound by Content-Digest (RFC 9530, sha-256), through the
`http-message-signatures` library.

What a signature covers: the method, the authority, the path, the query, the Content-Digest
of the body (empty bodies too) and `Hameau-Audience`, the node_id of the node the request is
for (so a request signed for one peer cannot be replayed to another); its parameters are
`created`, `expires` (at most LIFETIME after created), a random `nonce`, `keyid` (the
signer's node_id), `alg` and the tag "hameau".

What the receiving node checks, refusing with 401 otherwise: the two headers are there and
parse; the key is a paired, unrevoked peer's; the signature verifies with its pinned key;
every component above is covered; the body matches the digest; created is not ahead of the
clock by more than the `hamlet_clock_skew_seconds` setting, and expires is not past; the
audience is this node; the nonce was not seen from that key before. Nonces are kept in the
database (hamlet_nonces) until their signature expires, plus the skew: after that the
signature is refused as expired anyway, so the store holds at most LIFETIME + skew seconds of
requests and survives a restart.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hameau.hamlet.errors import SignatureRefused
from hameau.hamlet.models import HamletNonce

# httpx (with rich, through httpx._main), http-message-signatures and cryptography load at the
# first signed request (hamlet/signer.py has the httpx.Auth that signs; `verify` here) or key
# read, not at start (tests/e2e/test_idle_memory.py).
if TYPE_CHECKING:
    import httpx
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from http_message_signatures import HTTPMessageSigner

log = logging.getLogger("hameau.hamlet")

TAG = "hameau"
AUDIENCE = "Hameau-Audience"
LIFETIME = 300  # seconds a signature may live, from created to expires
COVERED = ("@method", "@authority", "@path", "@query", "hameau-audience")
REQUIRED = (*COVERED, "content-digest")
# A stream of contents (moving home) is signed by the digest of its index, the records' hashes
# and lengths, instead of its whole body's: each record is checked by its own hash at arrival.
INDEX = "Hameau-Index-Digest"
STREAM_REQUIRED = (*COVERED, "hameau-index-digest")


def node_id_of(public_bytes: bytes) -> str:
    """The node_id a key gives (as NodeIdentity.node_id): the signatures' keyid."""
    return base64.b32encode(hashlib.sha256(public_bytes).digest()[:10]).decode().lower()


def fingerprint_of(public_bytes: bytes) -> str:
    """The whole SHA-256 of a key, URL-safe: what an invitation pins."""
    return base64.urlsafe_b64encode(hashlib.sha256(public_bytes).digest()).decode().rstrip("=")


def node_id_from_fingerprint(fingerprint: str) -> str:
    digest = base64.urlsafe_b64decode(fingerprint + "=" * (-len(fingerprint) % 4))
    return base64.b32encode(digest[:10]).decode().lower()


def public_key(b64: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(base64.b64decode(b64))


# Given an answer and the nonce of the request it answers: raises if the answer is not to be
# trusted (hameau/hamlet/answers.py:check_answer).
AnswerCheck = Callable[["httpx.Response", str], None]


def sign(
    signer: HTTPMessageSigner,
    request: httpx.Request,
    key_id: str,
    audience: str,
    created: datetime | None = None,
    nonce: str | None = None,
    digest: str | None = None,
    index: str | None = None,
) -> str:
    """Sign `request` in place (its body already read, or, for a body that streams after
    signing, its Content-Digest given as `digest`, or for a stream of contents the digest of
    its index as `index`); returns the nonce."""
    created = created or datetime.now(UTC)
    nonce = nonce or secrets.token_urlsafe(16)
    for name in (AUDIENCE, "Content-Digest", "Signature", "Signature-Input", INDEX):
        request.headers.pop(name, None)  # a retried request is signed afresh
    request.headers[AUDIENCE] = audience
    if digest is not None:
        request.headers["Content-Digest"] = digest
    if index is not None:
        request.headers[INDEX] = index
        signer.sign(
            request, key_id=key_id, created=created, nonce=nonce, tag=TAG,
            expires=created + timedelta(seconds=LIFETIME), covered_component_ids=STREAM_REQUIRED,
        )  # fmt: skip
        return nonce
    signer.sign(
        request, key_id=key_id, created=created, expires=created + timedelta(seconds=LIFETIME),
        nonce=nonce, tag=TAG,
        covered_component_ids=COVERED if digest is None else (*COVERED, "content-digest"),
        body=request.content if digest is None else None, use_existing_digest=digest is not None,
    )  # fmt: skip
    return nonce


@dataclass
class Incoming:
    """The view of a received request the library reads: method, URL and header fields."""

    method: str
    url: str
    headers: Any


def _lookup(find: Callable[[str], Ed25519PublicKey | None]) -> Any:
    """A key resolver by keyid from `find` (None: unknown), for the library."""
    from http_message_signatures import HTTPSignatureKeyResolver

    class Lookup(HTTPSignatureKeyResolver):
        def resolve_public_key(self, key_id: str) -> Ed25519PublicKey | None:
            return find(key_id)

    return Lookup()


def refuse(why: str, key_id: str = "?") -> SignatureRefused:
    log.warning("refused a signed request (keyid %s): %s", key_id, why)
    return SignatureRefused("This request is not signed by a paired home, or not correctly.")


def verify(
    incoming: Incoming,
    body: bytes | None,
    find: Callable[[str], Ed25519PublicKey | None],
    own_node_id: str,
    skew_seconds: int,
    required: tuple[str, ...] = REQUIRED,
) -> tuple[str, str, datetime]:
    """The keyid, nonce and expiry of a valid signature; SignatureRefused (logged) otherwise.
    A body of None: its Content-Digest (or, ``required`` STREAM_REQUIRED, its index's digest)
    is checked by the caller (a streamed body)."""
    headers = incoming.headers
    if "signature" not in headers or "signature-input" not in headers:
        raise refuse("no Signature or Signature-Input header")
    from http_message_signatures import (
        HTTPMessageSignaturesException,
        HTTPMessageVerifier,
        algorithms,
    )

    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519, key_resolver=_lookup(find)
    )
    verifier.max_clock_skew = timedelta(seconds=skew_seconds)
    try:
        result = verifier.verify(
            incoming, max_age=timedelta(seconds=LIFETIME), expect_tag=TAG,
            require_components=required, body=body,
        )[0]  # fmt: skip
    except HTTPMessageSignaturesException as error:  # InvalidSignature, or a malformed field
        said = re.search(r'keyid="([A-Za-z0-9]{1,40})"', headers.get("signature-input", ""))
        why = str(error) or "the signature does not verify with the key"
        raise refuse(why, said.group(1) if said else "?") from None
    params = result.parameters
    key_id = str(params["keyid"])
    if "expires" not in params or "nonce" not in params:
        raise refuse("the signature has no expires or no nonce", key_id)
    created = datetime.fromtimestamp(int(params["created"]), UTC)
    expires = datetime.fromtimestamp(int(params["expires"]), UTC)
    if expires - created > timedelta(seconds=LIFETIME):
        raise refuse(f"the signature lives longer than {LIFETIME} s", key_id)
    if headers.get(AUDIENCE) != own_node_id:
        raise refuse("the request was signed for another node", key_id)
    return key_id, str(params["nonce"]), expires


def remember_nonce(
    db: Session, key_id: str, nonce: str, expires: datetime, skew_seconds: int
) -> None:
    """Record a nonce, refusing one seen before; forgets those whose signature has expired."""
    now = datetime.now(UTC)
    if len(nonce) > 100:
        raise refuse("the nonce is longer than 100 characters", key_id)
    db.execute(delete(HamletNonce).where(HamletNonce.expires_at < now))
    try:
        with db.begin_nested():
            db.add(
                HamletNonce(
                    node_id=key_id, nonce=nonce,
                    expires_at=expires + timedelta(seconds=skew_seconds),
                )
            )  # fmt: skip
    except IntegrityError:
        raise refuse("the nonce was seen before (a replay)", key_id) from None

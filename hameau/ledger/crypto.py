"""The ledger's bytes: canonical JSON, account ids, hashes and Ed25519 signatures.

Everything a verifier recomputes is defined here once, so that the notary, a replica and
`hameau ledger verify` hash and sign exactly the same bytes."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

ENTRY_PREFIX = b"hameau-ledger-entry\n"
POSITION_PREFIX = b"hameau-ledger-position\n"
PROPOSAL_PREFIX = b"hameau-ledger-proposal\n"
RECEIPT_PREFIX = b"hameau-ledger-receipt\n"
GENESIS = "0" * 64  # the previous hash of the first position


def canonical(data: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the one serialisation that is hashed and signed."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def account_id(kind: str, public_key: str) -> str:
    """Self-certifying: the id is the hash of the kind and the key, so nobody can take it."""
    digest = hashlib.sha256(f"{kind}:{public_key}".encode()).digest()[:10]
    return kind[0] + base64.b32encode(digest).decode().lower()


def node_id(public_key: str) -> str:
    """A notary's name: the same as the node's identity (hameau/node/identity.py)."""
    digest = hashlib.sha256(unb64(public_key)).digest()[:10]
    return base64.b32encode(digest).decode().lower()


def content_id(entry: bytes) -> str:
    """An entry's own id (an escrow's id is its opening entry's), known before it is sequenced."""
    return hashlib.sha256(entry).hexdigest()[:32]


def position_hash(seq: int, prev_hash: str, entry: bytes, signature: str) -> str:
    """The chain link: a position's hash covers its number, the previous hash and the signed entry."""
    head = f"{seq}\n{prev_hash}\n{signature}\n".encode()
    return hashlib.sha256(head + entry).hexdigest()


def position_message(seq: int, entry_hash: str, round: int = 0) -> bytes:
    """What a notary signs: this hash at this position, in this round (round 0 names none, as
    every signature did before rounds)."""
    tail = f"\n{round}" if round else ""
    return POSITION_PREFIX + f"{seq}\n{entry_hash}{tail}".encode()


def proposal_message(seq: int, round: int, entry_hash: str) -> bytes:
    """What a round's proposer signs: the one position it proposes at this number in this
    round (two of them for one number and round, different, prove it equivocated)."""
    return PROPOSAL_PREFIX + f"{seq}\n{round}\n{entry_hash}".encode()


def receipt_message(escrow_id: str, payouts: list[list[Any]]) -> bytes:
    return RECEIPT_PREFIX + canonical({"escrow": escrow_id, "payouts": payouts})


def verify(public_key: str, message: bytes, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(unb64(public_key)).verify(unb64(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True

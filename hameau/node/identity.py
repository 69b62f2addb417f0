"""The node's Ed25519 identity, kept in a key file readable by its owner only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class IdentityError(Exception):
    """The key file is missing, unreadable or too open."""


@dataclass(frozen=True)
class NodeIdentity:
    private_key: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def node_id(self) -> str:
        """A short, stable name for the node: base32 of the public key's hash."""
        digest = hashlib.sha256(self.public_bytes).digest()[:10]
        return base64.b32encode(digest).decode().lower()

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_bytes).decode()

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def derive_secret(self, purpose: str) -> bytes:
        """A secret for one purpose (CSRF tokens, …), derived so no second key file is needed."""
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return hmac.new(raw, b"hameau/" + purpose.encode(), hashlib.sha256).digest()


def create_identity(path: Path) -> NodeIdentity:
    """Generate a new key and write it with mode 0600 (never readable by others, even briefly)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return NodeIdentity(key)


def load_identity(path: Path) -> NodeIdentity:
    if not path.is_file():
        raise IdentityError(f"No node key at {path}; run `hameau init` first.")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise IdentityError(f"{path} is readable by others; run `chmod 600 {path}`.")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path} does not hold an Ed25519 key.")
    return NodeIdentity(key)

"""The node's Ed25519 identity, and the secret its cookies and forms are signed with.

Both live in files readable by their owner only. The key is loaded when something signs
(cryptography costs ~7 MB of memory), the secret at start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class IdentityError(Exception):
    """The key or secret file is missing, unreadable or too open."""


def _write_private(path: Path, data: bytes) -> None:
    """Write a new file with mode 0600 from the start (never readable by others, even briefly)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def check_private(path: Path) -> None:
    if not path.is_file():
        raise IdentityError(f"No {path.name} at {path}; run `hameau init` first.")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise IdentityError(f"{path} is readable by others; run `chmod 600 {path}`.")


@dataclass(frozen=True)
class NodeIdentity:
    private_key: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

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


def create_identity(path: Path) -> NodeIdentity:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(path, pem)
    return NodeIdentity(key)


def load_identity(path: Path) -> NodeIdentity:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    check_private(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path} does not hold an Ed25519 key.")
    return NodeIdentity(key)


def create_secret(path: Path) -> None:
    _write_private(path, secrets.token_bytes(32))


def load_secret(path: Path) -> bytes:
    check_private(path)
    secret = path.read_bytes()
    if len(secret) != 32:
        raise IdentityError(f"{path} is damaged (it must hold 32 bytes); restore it from a backup.")
    return secret


def derive(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose (CSRF tokens, …), so one secret serves several without overlap."""
    return hmac.new(secret, b"hameau/" + purpose.encode(), hashlib.sha256).digest()

"""Passwords (Argon2) and random bearer secrets (stored as SHA-256, compared by hash)."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher


@cache
def _hasher() -> PasswordHasher:
    """Argon2, loaded when a password is first hashed or checked: not by a command that lists."""
    from argon2 import PasswordHasher

    # OWASP's minimum for Argon2id (19 MiB, 2 passes): affordable on a 1 GB node.
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so both cases take the same time."""
    return _hasher().hash("hameau-no-such-member")


MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return (
            _hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """A random secret for cookies, app passwords and one-time codes (256 bits)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a random secret: its SHA-256, enough for a 256-bit value."""
    return hashlib.sha256(secret.encode()).hexdigest()

"""Errors that carry the status a user should get and one sentence saying what to do.

Messages are English msgids with ``%(name)s`` placeholders; the web layer translates
them into the reader's language, the CLI prints them as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def N_(message: str) -> str:
    """Marks a message for translation where it is written; it is translated where shown."""
    return message


class Phrase:
    """A translatable part of a message (e.g. the reason in "unavailable because …"), given
    as one of its parameters: it is translated with the message."""

    def __init__(self, message: str, **params: Any):
        self.message = message
        self.params = params

    def __str__(self) -> str:
        return self.message % self.params if self.params else self.message

    def render(self, gettext: Callable[[str], str]) -> str:
        text = gettext(self.message)
        return text % self.params if self.params else text


class HameauError(Exception):
    status = 400

    def __init__(self, message: str, headers: dict[str, str] | None = None, **params: Any):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params
        self.headers = headers or {}

    def render(self, gettext: Callable[[str], str]) -> str:
        text = gettext(self.message)
        if not self.params:
            return text
        return text % {
            name: value.render(gettext) if isinstance(value, Phrase) else value
            for name, value in self.params.items()
        }


class BadRequest(HameauError):
    status = 400


class Unauthorized(HameauError):
    status = 401


class Forbidden(HameauError):
    status = 403


class NotFound(HameauError):
    status = 404


class Conflict(HameauError):
    status = 409


class RequestTimeout(HameauError):
    status = 408


class PreconditionFailed(HameauError):
    status = 412


class PayloadTooLarge(HameauError):
    status = 413


class RangeNotSatisfiable(HameauError):
    """A Range that starts past the end: RFC 9110 wants `Content-Range: bytes */SIZE` with it."""

    status = 416


class TooManyRequests(HameauError):
    status = 429


class InsufficientStorage(HameauError):
    status = 507


class StoreUnavailable(HameauError):
    """The node's database or its content store cannot be reached for the moment (a server
    restarting, a network cut): 503 with Retry-After; the request changed nothing."""

    status = 503
    retry_after = 30

    def __init__(self, message: str, **params: Any):
        super().__init__(message, headers={"Retry-After": str(self.retry_after)}, **params)


# Said by every door when the disk (the content's or the database's) is full.
DISK_FULL = N_(
    "The home server's disk is full: nothing of this was kept. Empty your trash or ask an admin"
    " to free some space, then try again."
)

# Said by every door while the node's database or content store cannot be reached.
DATABASE_GAP = N_(
    "The home server cannot reach its database at the moment; try again in a minute (nothing"
    " of this request was recorded)."
)
CONTENT_GAP = N_(
    "The home server cannot reach its file store at the moment; try again in a minute (nothing"
    " of this request was recorded)."
)

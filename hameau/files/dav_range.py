"""Range requests at the WebDAV door, refused as at the API (see integrity.py), in the node's
words. Left to itself, WsgiDAV reads a malformed Range as some other range (`bytes=5-2` is
served as the last two bytes, `bytes=-0` as an empty 206 with an impossible Content-Range),
refuses a unit it should ignore, and explains a 416 in its own English page."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hameau.errors import HameauError
from hameau.files.integrity import range_past_the_end, range_unreadable
from hameau.web.errors import error_response

SPEC = re.compile(r"^\s*(?:(\d+)-(\d*)|-(\d+))\s*$")  # first-last, first-, or -suffix
# Starts past any file: WsgiDAV then answers 416 with `Content-Range: bytes */SIZE` itself.
PAST_THE_END = "bytes=9223372036854775807-"


def checked_range(value: str) -> str | None:
    """The Range to pass on to WsgiDAV, or None to ignore it (a unit other than bytes: RFC
    9110, 14.2); raises BadRequest when it cannot be read."""
    unit, _, specs = value.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    kept, readable = [], 0
    for spec in specs.split(","):
        found = SPEC.match(spec)
        if found is None:
            continue  # as at the API: a part that is not a range is passed over
        if found[2] and int(found[1]) > int(found[2]):
            raise range_unreadable()
        readable += 1
        if found[3] is None or int(found[3]) > 0:  # a suffix of no bytes serves nothing
            kept.append(spec.strip())
    if not readable:
        raise range_unreadable()
    return "bytes=" + ",".join(kept) if kept else PAST_THE_END


class RangeCheck:
    """In front of the WebDAV app: a Range is checked before WsgiDAV reads it, and WsgiDAV's
    416 is said again in the node's words, with its Content-Range."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = [value for name, value in scope.get("headers", []) if name == b"range"]
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not asked:
            await self.app(scope, receive, send)
            return
        try:
            passed = checked_range(asked[0].decode("latin-1"))
        except HameauError as unreadable:
            await error_response(Request(scope, receive), unreadable)(scope, receive, send)
            return
        size = await self._serve(scope, receive, send, passed)
        if size is None:
            return
        inside = inside_of(passed, size) if passed else None
        if inside is not None and await self._serve(scope, no_body, send, inside) is None:
            return  # served the ranges inside the file, as RFC 9110 asks (416 if none is)
        refusal = range_past_the_end(size)
        await error_response(Request(scope, receive), refusal)(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, asked: str | None
    ) -> int | None:
        """Pass the request on with this Range; on a 416, send nothing and return the size."""
        headers = [(name, value) for name, value in scope["headers"] if name != b"range"]
        if asked is not None:
            headers.append((b"range", asked.encode()))
        refused: list[str] = []

        async def relay(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 416:
                found = dict(message.get("headers", [])).get(b"content-range", b"bytes */0")
                refused.append(found.decode("latin-1"))
            if not refused:  # WsgiDAV's own page for a 416 is left out
                await send(message)

        await self.app({**scope, "headers": headers}, receive, relay)
        if not refused:
            return None
        size = refused[0].rpartition("/")[2]
        return int(size) if size.isdigit() else 0


async def no_body() -> Message:
    """A GET's (empty) body, for asking WsgiDAV a second time: the first ask consumed it."""
    return {"type": "http.request", "body": b"", "more_body": False}


def inside_of(asked: str, size: int) -> str | None:
    """Of several ranges, those that start inside the file (WsgiDAV refuses them all when one
    starts past the end); None when there is nothing else to try."""
    specs = asked.partition("=")[2].split(",")
    inside = [spec for spec in specs if spec.startswith("-") or int(spec.split("-")[0]) < size]
    return "bytes=" + ",".join(inside) if inside and len(inside) < len(specs) else None

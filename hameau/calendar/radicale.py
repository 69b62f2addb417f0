"""Radicale, mounted at /dav/cal/, storing under the node's data dir.

The node authenticates the request itself (the member's name and an app password, over
HTTP Basic), then hands Radicale the member's name; Radicale's rights file lets each
member use their own collections and everyone the household's (`/household/`).
Radicale is imported on first use, so a node without calendar clients never loads it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from hameau.accounts import tokens
from hameau.calendar.storage import configuration
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.web.dav_input import UNREADABLE_DESTINATION, destination_path

MOUNT = "/dav/cal"


def member_from_credentials(node: Node, scope: dict[str, Any]) -> str | None:
    """The member's name for a CalDAV request, from their name and an app password."""
    headers = dict(scope["headers"])
    authorization = headers.get(b"authorization", b"").decode("latin1")
    if not authorization.lower().startswith("basic "):
        return None
    try:
        name, _, secret = base64.b64decode(authorization[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    with transaction(node.sessions) as session:
        member = tokens.authenticate_token(session, secret)
        return member.name if member and member.name == name.strip().lower() else None


def make_caldav_asgi(node: Node) -> Any:
    from a2wsgi import WSGIMiddleware
    from radicale import Application

    from hameau.calendar import recurrence

    recurrence.bound_walks()  # a rule that never happens must not hold a thread for minutes
    wsgi = WSGIMiddleware(Application(configuration(node)), workers=2)  # type: ignore[arg-type]
    challenge = [
        (b"www-authenticate", b'Basic realm="hameau", charset="UTF-8"'),
        (b"content-type", b"text/plain; charset=utf-8"),
    ]

    from hameau.calendar.store import CalendarStore

    store = CalendarStore(node)
    ready: set[str] = set()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        import anyio.to_thread

        name = await anyio.to_thread.run_sync(member_from_credentials, node, scope)
        if name is not None and name not in ready:
            # The member's calendar and address book, and the household's calendar, exist
            # from the first request of any client.
            await anyio.to_thread.run_sync(store.ensure, name)
            ready.add(name)
        if name is None:
            body = b"Log in with your name and an app password (hameau token create)."
            await send({"type": "http.response.start", "status": 401, "headers": challenge})
            await send({"type": "http.response.body", "body": body})
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"x-remote-user"]
        headers.append((b"x-remote-user", name.encode()))
        if any(len(name.encode()) > 255 for name in _names(scope)):  # the disk's limit: a 500
            await _answer(send, 400, b"text/plain; charset=utf-8",
                          b"A name can be at most 255 bytes long.")  # fmt: skip
            return
        if scope["method"] in ("DELETE", "MOVE", "PUT") and _household_collection(scope):
            await _answer(send, 403, b"text/plain; charset=utf-8", HOUSEHOLD_KEPT)
            return
        if scope["method"] in ("COPY", "MOVE") and not _readable_destination(headers):
            await _answer(send, 400, b"text/plain; charset=utf-8", UNREADABLE_DESTINATION)
            return
        if scope["method"] in CHECKED:
            receive = await _checked_body(CHECKED[scope["method"]], receive, send)
            if receive is None:
                return
        await wsgi({**scope, "headers": headers}, receive, send)  # type: ignore[arg-type]

    return app


HOUSEHOLD_KEPT = (
    b"The household's calendar and address book are everyone's: delete, move or replace"
    b" what they hold, not the whole collection."
)


def _names(scope: dict[str, Any]) -> list[str]:
    """The names in the request's path below the mount."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return [name for name in unquote(path).split("/") if name]


def _household_collection(scope: dict[str, Any]) -> bool:
    """Whether the request names the household's folder or one of its collections: one
    member's DELETE, or PUT of a whole calendar (Radicale replaces the collection with it),
    would take every member's events with it, with no trash."""
    names = _names(scope)
    return names[:1] == ["household"] and len(names) <= 2  # its events are one level down


def _readable_destination(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a COPY's or MOVE's Destination, if any, is an address."""
    found = [value for name, value in headers if name.lower() == b"destination"]
    return all(destination_path(value.decode("latin-1")) is not None for value in found)


async def _answer(send: Any, status: int, kind: bytes, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", kind), (b"content-length", str(len(body)).encode()),
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def _checked_body(
    refusal: Callable[[bytes], tuple[int, bytes, bytes] | None], receive: Any, send: Any
) -> Any:
    """A request's body read whole (Radicale reads it whole too; the node's middleware
    bounds its size) and given to ``refusal`` in a thread: its answer (status, content type,
    body) is sent if it has one; else a ``receive`` that gives the body to Radicale. None
    when the answer was sent (or the client left)."""
    import anyio.to_thread

    from hameau.web.asgi import whole_body

    body = await whole_body(receive)
    if body is None:
        return None
    refused = await anyio.to_thread.run_sync(refusal, body)
    if refused is not None:
        await _answer(send, *refused)
        return None
    given = False

    async def again() -> dict[str, Any]:
        nonlocal given
        if given:
            return await receive()  # waits for the client to leave, as the server's would
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def _empty_propfind(body: bytes) -> tuple[int, bytes, bytes] | None:
    """400 for a PROPFIND whose XML names nothing (`<propfind/>`): Radicale takes its first
    child without looking (a 500). A body that does not parse is left to Radicale's 400."""
    if not body.strip():
        return None  # RFC 4918: no body asks for everything
    from defusedxml import ElementTree

    try:
        root = ElementTree.fromstring(body)
    except Exception:  # defusedxml's refusals and expat's errors alike
        return None
    if len(root):
        return None
    said = b"A PROPFIND's body names what it asks for: prop, allprop or propname."
    return 400, b"text/plain; charset=utf-8", said


def _repeating_too_often(body: bytes) -> tuple[int, bytes, bytes] | None:
    """403 and CALDAV:max-instances (RFC 4791, 5.3.2.1) for a PUT of an event that repeats
    too often (`recurrence.check`)."""
    found = _refusal(body)
    return None if found is None else (403, b'application/xml; charset="utf-8"', found)


CHECKED = {"PUT": _repeating_too_often, "PROPFIND": _empty_propfind}


def _refusal(body: bytes) -> bytes | None:
    """The 403's body if ``body`` holds an event that repeats too often; None otherwise (or
    when it cannot be read: Radicale then refuses it in its own words)."""
    from xml.sax.saxutils import escape

    from hameau.calendar import recurrence

    if not re.search(rb"(?i)rrule", body):
        return None
    try:
        from radicale.item import read_components

        calendars = read_components(body.decode("utf-8"))
    except Exception:  # vobject raises many kinds on bad text
        return None
    try:
        for calendar in calendars:
            recurrence.check(calendar)
    except recurrence.RepeatsTooOften as refused:
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"'
            ' xmlns:C="urn:ietf:params:xml:ns:caldav"><C:max-instances/>'
            f"<D:responsedescription>{escape(str(refused))}</D:responsedescription></D:error>"
        ).encode()
    return None

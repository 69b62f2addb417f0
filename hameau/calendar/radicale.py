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
from typing import Any

from hameau.accounts import tokens
from hameau.calendar.storage import configuration
from hameau.node.datadir import Node
from hameau.node.db import transaction

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
        if scope["method"] == "PUT":
            receive = await _checked_put(receive, send)
            if receive is None:
                return
        await wsgi({**scope, "headers": headers}, receive, send)  # type: ignore[arg-type]

    return app


async def _checked_put(receive: Any, send: Any) -> Any:
    """A PUT's body read whole (Radicale reads it whole too; the node's middleware bounds its
    size), refused with 403 and CALDAV:max-instances (RFC 4791, 5.3.2.1) if an event in it
    repeats too often (`recurrence.check`); else a ``receive`` that gives it to Radicale.
    None when the answer was sent (or the client left)."""
    import anyio.to_thread

    from hameau.web.asgi import whole_body

    body = await whole_body(receive)
    if body is None:
        return None
    refusal = await anyio.to_thread.run_sync(_refusal, body)
    if refusal is not None:
        await send({"type": "http.response.start", "status": 403, "headers": [
            (b"content-type", b'application/xml; charset="utf-8"'),
            (b"content-length", str(len(refusal)).encode()),
        ]})  # fmt: skip
        await send({"type": "http.response.body", "body": refusal})
        return None
    given = False

    async def again() -> dict[str, Any]:
        nonlocal given
        if given:
            return await receive()  # waits for the client to leave, as the server's would
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


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

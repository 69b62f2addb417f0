"""Radicale, mounted at /dav/cal/, storing under the node's data dir.

The node authenticates the request itself (the member's name and an app password, over
HTTP Basic), then hands Radicale the member's name; Radicale's rights file lets each
member use their own collections and everyone the household's (`/household/`).
Radicale is imported on first use, so a node without calendar clients never loads it.
"""

from __future__ import annotations

import base64
import binascii
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
        await wsgi({**scope, "headers": headers}, receive, send)  # type: ignore[arg-type]

    return app

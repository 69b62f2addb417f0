"""The WebDAV app at /dav/files/: WsgiDAV configured with our provider (dav.py), its locks
in the database (dav_locks.py), app passwords for login, and a guard in front of it.

Built on the first WebDAV request (see `web/asgi.py:LazyMount`), so a node nobody mounts
never loads WsgiDAV.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from wsgidav.wsgidav_app import WsgiDAVApp

from hameau.files import dav_locks, dav_stream
from hameau.files.dav import DISCONNECTED, UNDO
from hameau.files.dav_auth import AppPasswords
from hameau.files.dav_provider import HameauProvider
from hameau.node.datadir import Node
from hameau.web.dav_input import UNREADABLE_DESTINATION, destination_path

MOUNT = "/dav/files"


def _xml_error(status: str, condition: bytes) -> tuple[str, bytes]:
    return status, (
        b'<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:">'
        + condition
        + b"</D:error>"
    )


def _drop_broken_dates(environ: dict[str, Any]) -> None:
    """A conditional date WsgiDAV's parser fails on (a year past 9999: ValueError, a 500)
    is ignored, as RFC 9110 (13.1.3, 13.1.4) says of a date that is not a valid HTTP-date."""
    from wsgidav.util import parse_time_string

    for key in ("HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE"):
        if key in environ:
            try:
                parse_time_string(environ[key])
            except (ValueError, OverflowError):
                del environ[key]


TOP_REFUSED = (
    "403 Forbidden",
    (
        b"The top of the WebDAV folders holds mine, household and shared; it cannot be changed:"
        b" write inside mine or household."
    ),
)
SPACE_REFUSED = (
    "403 Forbidden",
    (
        b"mine, household and shared are the spaces themselves: they cannot be deleted, moved"
        b" or replaced whole; act on what they hold."
    ),
)
SHARED_LOCK_REFUSED = (
    "403 Forbidden",
    b"The household's files are everyone's: lock the files you write, not the whole space.",
)
WRITES = {"PUT", "DELETE", "MOVE", "COPY", "MKCOL", "PROPPATCH", "LOCK", "UNLOCK", "POST"}


def _refusal(environ: dict[str, Any]) -> tuple[str, bytes] | None:
    """Why a request is refused before WsgiDAV sees it, if it is."""
    method = environ.get("REQUEST_METHOD")
    depth = environ.get("HTTP_DEPTH", "infinity").strip().lower()
    if method == "PROPFIND" and depth not in ("0", "1"):
        return _xml_error("403 Forbidden", b"<D:propfind-finite-depth/>")
    raw = environ.get("PATH_INFO", "").encode("latin1").decode("utf8", "replace")
    segments = raw.split("/")
    if any(part in (".", "..") for part in segments) or any(
        ord(char) < 32 or ord(char) == 127 for char in raw
    ):
        return "400 Bad Request", b"A path cannot hold '.', '..' or control characters."
    names = [part for part in segments if part]
    if method in WRITES and not names:
        return TOP_REFUSED
    if method in ("DELETE", "MOVE") and len(names) == 1:
        return SPACE_REFUSED
    if method == "LOCK" and names in (["household"], ["shared"]):
        return SHARED_LOCK_REFUSED  # one request would hold every member out for an hour
    if method in ("COPY", "MOVE") and "HTTP_DESTINATION" in environ:
        target = destination_path(environ["HTTP_DESTINATION"])
        if target is None:
            return "400 Bad Request", UNREADABLE_DESTINATION
        inside = target == MOUNT or target.startswith(MOUNT + "/")
        below = target[len(MOUNT) :].strip("/") if inside else None
        if below == "":
            return TOP_REFUSED
        if below is not None and "/" not in below:
            return SPACE_REFUSED  # onto a space: it would be emptied first, to be overwritten
    return None


def guard(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Refuse, before WsgiDAV sees them, what no client of ours needs: PROPFIND without a
    finite Depth (it would walk a whole tree; RFC 4918 allows refusing it), paths with
    '.', '..' or control characters in them, writes to the top folder (WsgiDAV has no
    parent to check them against: a 500), a space deleted, moved or replaced whole (one
    request would empty the household's files into the trash), the household's locked whole
    (every member held out of it for an hour) and a Destination that is not an address;
    drop conditional dates it cannot read."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        refusal = _refusal(environ)
        if refusal is None:
            _drop_broken_dates(environ)
            return app(environ, start_response)
        status, body = refusal
        kind = "application/xml" if body.startswith(b"<?xml") else "text/plain"
        start_response(
            status,
            [("Content-Type", f"{kind}; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return guarded


def make_dav_app(
    node: Node, provider: HameauProvider | None = None
) -> Callable[..., Iterable[bytes]]:
    from wsgidav.error_printer import ErrorPrinter
    from wsgidav.http_authenticator import HTTPAuthenticator
    from wsgidav.request_resolver import RequestResolver

    locks = dav_locks.DatabaseLockStorage(node)
    config = {
        "provider_mapping": {"/": provider or HameauProvider(node)},
        "mount_path": MOUNT,
        "http_authenticator": {
            "domain_controller": AppPasswords,
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
        },
        "hameau.node": node,
        "middleware_stack": [ErrorPrinter, HTTPAuthenticator, RequestResolver],
        "lock_storage": locks,
        "property_manager": None,
        "block_size": 1 << 20,
        "verbose": 1,
        "logging": {"enable": False},
        "suppress_version_info": True,
        "dir_browser": {"enable": False},
    }
    dav = dav_locks.undo_failed_locks(WsgiDAVApp(config), locks, UNDO)
    # WsgiDAV keeps its logger to itself (a NullHandler, no propagation): an error it turns
    # into a 500 would leave no trace in the node's log. Its errors go there, not its chatter.
    logs = logging.getLogger("wsgidav")
    logs.setLevel(logging.ERROR)
    logs.propagate = True
    return guard(dav_stream.keep_alive(dav))


GATHER = 1 << 20  # body bytes handed to a WsgiDAV thread at a time (WsgiDAV reads 1 MiB)


async def gathered(receive: Any, scope: dict[str, Any]) -> dict[str, Any]:
    """The next piece of the request body, gathered up to GATHER bytes in the event loop:
    uvicorn hands the body over 64 KiB at a time, and each piece that reaches WsgiDAV is a
    hop between threads (a2wsgi); a disconnect is noted in the scope."""
    message: dict[str, Any] = await receive()
    pieces, size = [message.get("body", b"")], len(message.get("body", b""))
    while message["type"] == "http.request" and message.get("more_body") and size < GATHER:
        message = await receive()
        pieces.append(message.get("body", b""))
        size += len(pieces[-1])
    if message["type"] == "http.disconnect":
        scope[DISCONNECTED] = True
        return message  # what came before it is dropped with the cut upload
    if len(pieces) > 1:
        message = {**message, "body": b"".join(pieces)}
    return message


def make_dav_asgi(node: Node, provider: HameauProvider | None = None) -> Any:
    """The WebDAV app as ASGI (a2wsgi runs WsgiDAV in worker threads), its request bodies
    gathered in larger pieces, noting in the scope when the client disconnects before the
    end of its request body."""
    from a2wsgi import WSGIMiddleware

    wsgi = WSGIMiddleware(make_dav_app(node, provider), workers=4)  # type: ignore[arg-type]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def watched() -> dict[str, Any]:
            return await gathered(receive, scope)

        await wsgi(scope, watched, send)  # type: ignore[arg-type]

    return app


def mounted(node: Node) -> Any:
    """The app mounted at /dav/files (hameau/parts.py), built on its first request: WsgiDAV
    behind the check of Range headers, and plain PUTs of files served past it (dav_put.py)."""
    from hameau.files.dav_put import NativePut
    from hameau.files.dav_range import RangeCheck

    provider = HameauProvider(node)
    return NativePut(RangeCheck(make_dav_asgi(node, provider)), node, provider, MOUNT)

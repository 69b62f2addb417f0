"""The web layer's ASGI pieces: static files, selective compression, mounts built on first use.
The app itself is assembled from the registry of parts in `hameau/app.py`."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipMiddleware, GZipResponder
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class StaticAssets(StaticFiles):
    """Static files are versioned by the package version (`?v=`), so those may be kept a year;
    one asked for without a version is kept a day."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        scope = kwargs.get("scope", args[2] if len(args) > 2 else {})
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "public, max-age=86400"
        )
        return response


# What is compressed: pages, styles, scripts and JSON. Media are compressed already.
COMPRESSIBLE = (
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
)


def _compressible(scope: Scope, message: Message) -> bool:
    """Whether a response may be gzipped: never a download (attachment, or ranges it serves
    byte-exact with its Content-Length), never an event stream, never WebDAV or CalDAV."""
    path: str = scope.get("path", "")
    if path.startswith("/dav/"):
        return False
    headers = Headers(raw=message.get("headers", []))
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in COMPRESSIBLE or "content-disposition" in headers:
        return False
    return "accept-ranges" not in headers or path.startswith("/static/")


class _Selective(GZipResponder):
    async def send_with_compression(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not _compressible(self.scope, message):
            self.content_type_is_excluded = True  # passed through as is, from its first byte
            await self.send(message)
            return
        await super().send_with_compression(message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        await super().__call__(scope, receive, send)


class Compressed(GZipMiddleware):
    """Starlette's gzip, on the responses `_compressible` allows only: it is done on the fly
    rather than from .gz files so the HTML is compressed too and nothing is built."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "gzip" not in Headers(scope=scope).get("accept-encoding", ""):
            await self.app(scope, receive, send)
            return
        responder = _Selective(self.app, self.minimum_size, compresslevel=self.compresslevel)
        await responder(scope, receive, send)


class LazyMount:
    """An ASGI app built on its first request, so a part nobody uses is never loaded."""

    def __init__(self, factory: Callable[[], ASGIApp]) -> None:
        self.factory = factory
        self.app: ASGIApp | None = None

    def built(self) -> ASGIApp:
        if self.app is None:
            self.app = self.factory()
        return self.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.built()(scope, receive, send)


async def whole_body(receive: Receive) -> bytes | None:
    """A request's body read whole (the caller bounds its size); None if the client left
    before its end."""
    pieces = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        pieces.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(pieces)

"""The node's middleware, as plain ASGI classes; the stack is assembled in `app.py`."""

from __future__ import annotations

import time
from email.utils import formatdate
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hameau.errors import Forbidden, HameauError, PayloadTooLarge
from hameau.web.csrf import CSRF, SESSION_COOKIE
from hameau.web.errors import error_response
from hameau.web.metrics import Metrics

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PROPFIND"})
SMALL_BODY_TYPES = (
    "application/x-www-form-urlencoded",
    "application/json",
    "application/xml",
    "text/xml",
)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


async def _send_error(scope: Scope, receive: Receive, send: Send, error: HameauError) -> None:
    response = error_response(Request(scope, receive), error)
    await response(scope, receive, send)


class ResponseHeaders:
    """Security headers and a Date on every response; nothing is cached unless it says so.

    The Date header is written here rather than by a server timer ticking every second.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._date_second = 0
        self._date = b""

    def _http_date(self) -> bytes:
        now = int(time.time())
        if now != self._date_second:
            self._date_second, self._date = now, formatdate(now, usegmt=True).encode()
        return self._date

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.append((b"date", self._http_date()))
                headers.extend(item for item in SECURITY_HEADERS if item[0] not in names)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestMetrics:
    """Counts requests and their durations by route and status for /metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], name, status, time.perf_counter() - started)


class SmallBodies:
    """Forms and JSON bodies are read here, up to a limit; over it the answer is 413.

    Uploads (multipart forms, and PUT bodies under ``streamed`` prefixes: the files API
    and WebDAV) are left to stream to their route untouched; every other body of these
    types, WebDAV's XML included, is bounded. The body read is kept in the scope for
    the CSRF check and handed on to the app.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        streamed: tuple[str, ...] = (),
        larger: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.streamed = streamed
        self.larger = larger or {}  # path prefix: its own limit (a satellite's sync batches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or (scope["method"] == "PUT" and scope["path"].startswith(self.streamed))
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in SMALL_BODY_TYPES:
            await self.app(scope, receive, send)
            return
        limit = next(
            (size for prefix, size in self.larger.items() if scope["path"].startswith(prefix)),
            self.limit,
        )
        too_large = PayloadTooLarge(
            "This form is too large (more than %(limit)s bytes).", limit=limit
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _send_error(scope, receive, send, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_error(scope, receive, send, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        scope["hameau.body"] = body
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class CSRFCheck:
    """Every state-changing request from a browser must come from the node's own pages.

    Cross-site requests (by Sec-Fetch-Site or Origin) are refused; requests that carry a
    session cookie or a form must bring the token, in a header, the form, or the query
    (for multipart uploads). Clients that log in with an app password send no cookies and
    are left to their own authentication.
    """

    def __init__(self, app: ASGIApp, csrf: CSRF) -> None:
        self.app = app
        self.csrf = csrf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refusal = self._refusal(request, scope)
        if refusal is not None:
            await _send_error(scope, receive, send, refusal)
            return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request, scope: Scope) -> HameauError | None:
        headers = request.headers
        cross = Forbidden("This request came from another site and was refused.")
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return cross
        origin = headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != headers.get("host"):
            return cross
        session_secret = request.cookies.get(SESSION_COOKIE)
        if not session_secret and headers.get("authorization"):
            return None  # an app-password client: no cookie to ride on
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        is_form = content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
        if not session_secret and not is_form:
            return None
        token = headers.get("x-csrf-token") or request.query_params.get("csrf_token", "")
        if not token and content_type == "application/x-www-form-urlencoded":
            fields = parse_qs(scope.get("hameau.body", b"").decode("latin-1"))
            token = (fields.get("csrf_token") or [""])[0]
        if not self.csrf.valid(session_secret, token):
            return Forbidden(
                "This form has expired or did not come from this node; reload the page and try again."
            )
        return None

"""The node's middleware, as plain ASGI classes; the stack is assembled in `app.py`."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hameau.errors import BadRequest, Forbidden, HameauError, PayloadTooLarge
from hameau.web.csrf import CSRF, SESSION_COOKIE, VISIT_SESSION
from hameau.web.errors import error_response
from hameau.web.metrics import Metrics

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PROPFIND"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
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


class _Doctype(Exception):
    pass


def declares_doctype(body: bytes) -> bool:
    """Whether an XML body carries a document type declaration: none of our clients sends
    one, and entity attacks (billion laughs, external entities) all need one. The parse
    stops at the declaration, before any entity is read."""

    from xml.parsers import expat  # on the first XML body (WebDAV, CalDAV) only

    def refuse(*_: object) -> None:
        raise _Doctype

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except _Doctype:
        return True
    except expat.ExpatError:
        return False  # not XML, or broken XML: the app says so itself
    return False


def _looks_like_xml(content_type: str, body: bytes) -> bool:
    return "xml" in content_type or body.lstrip()[:1] in (b"<", b"\xef", b"\xfe", b"\xff")


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

    def completed(self, given: Any) -> list[tuple[bytes, bytes]]:
        """An answer's headers with the Date, the security headers and `Cache-Control`."""
        headers = list(given)
        names = {name.lower() for name, _ in headers}
        headers.append((b"date", self._http_date()))
        headers.extend(item for item in SECURITY_HEADERS if item[0] not in names)
        if b"cache-control" not in names:
            headers.append((b"cache-control", b"no-store"))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self.completed(message.get("headers", []))
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
    """Every request body is read here, up to a limit, whatever its method or content type;
    over it the answer is 413 before the app sees a byte of it.

    Only file content streams past, to routes that bound it by the member's quota:
    ``streamed`` lists them as (method, path prefix). ``larger`` gives some path prefixes a
    limit of their own (WebDAV's XML and calendar items, a satellite's sync batches). XML
    with a document type declaration is refused (400) here, for every door. The body read
    is kept in the scope (for the CSRF check) and replayed to the app. A client that goes
    away mid-body gets nothing, and the app is never called.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        streamed: tuple[tuple[str, str], ...] = (),
        larger: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.streamed = streamed
        self.larger = larger or {}  # path prefix: its own limit

    def _limit(self, path: str) -> int:
        return next(
            (size for prefix, size in self.larger.items() if path.startswith(prefix)), self.limit
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(
            scope["method"] == method and scope["path"].startswith(prefix)
            for method, prefix in self.streamed
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared in ("", "0") and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body (HTTP/1.1 says so by these two)
            return
        limit = self._limit(scope["path"])
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        too_large = (
            PayloadTooLarge("This form is too large (more than %(limit)s bytes).", limit=limit)
            if content_type in FORM_TYPES
            else PayloadTooLarge(
                "This request is too large (more than %(limit)s bytes).", limit=limit
            )
        )
        if declared.isdigit() and int(declared) > limit:
            await _send_error(scope, receive, send, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # cut short: nothing reaches the app, nothing is kept
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_error(scope, receive, send, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _looks_like_xml(content_type, body) and declares_doctype(body):
            refused = BadRequest("XML with a document type declaration (DTD) is refused.")
            await _send_error(scope, receive, send, refused)
            return
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

    @staticmethod
    def _cross_site(headers: Headers) -> bool:
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return True
        origin = headers.get("origin")
        return bool(origin and origin != "null" and urlsplit(origin).netloc != headers.get("host"))

    def _refusal(self, request: Request, scope: Scope) -> HameauError | None:
        headers = request.headers
        # Relayed for a visit: the terminal's node checked the browser's origin itself.
        visit_secret = scope.get(VISIT_SESSION)
        if not visit_secret and self._cross_site(headers):
            return Forbidden("This request came from another site and was refused.")
        session_secret = visit_secret or request.cookies.get(SESSION_COOKIE)
        if not session_secret and (headers.get("authorization") or headers.get("signature")):
            # An app-password client, or a node signing its request (RFC 9421; a browser's
            # cross-site form cannot add that header): no cookie to ride on.
            return None
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
                "This form has expired or did not come from this server; reload the page and try again."
            )
        return None

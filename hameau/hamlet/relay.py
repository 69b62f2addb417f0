"""The relay: while a browser holds a visit's cookie, every request it makes here (but this
node's own /visit pages and static files) goes to the visitor's home at the same path, signed
by this node and carrying the visit's access token; the home's answer comes back.

What passes: the method, path, query and body, a few safe request headers (what the page
accepts, its language, ranges, conditions, htmx's), never a cookie; back, the status, the
body and safe answer headers, never a cookie, with a redirect to the home's own address made
relative. Nothing of it is kept here once answered. Answers stream. A form's body is the one
the node read within its limits; file content (an upload) is spooled while its Content-Digest
is computed, since the signature covers it, then streams out (RELAYED_BODY_LIMIT bounds it).

It sits after the node's body limits and before its CSRF check (the home's pages carry the
home's tokens); cross-site requests are refused here, and the visit's cookie is SameSite=Lax.
Logging out ends the visit at home too; an answer "not logged in" from home (401, or a
redirect to its login page) ends it here.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from typing import IO, Any
from urllib.parse import urlsplit

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hameau.errors import Forbidden, HameauError, PayloadTooLarge
from hameau.hamlet.errors import VisitTimedOut, VisitUnavailable
from hameau.hamlet.models import HamletPeer
from hameau.hamlet.visitors import VISIT_COOKIE, Visit, Visitors, visitors_of
from hameau.web.auth import DEVICE_COOKIE, set_device_cookie
from hameau.web.csrf import SESSION_COOKIE
from hameau.web.errors import error_response, wants_json

log = logging.getLogger("hameau.hamlet")

OWN = ("/visit/", "/static/")  # this node's own, even during a visit (and /visit, /healthz)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What the pages' scripts send too: the CSRF token, "not the member's activity" (idle.js) and
# an uploaded file's name (files.js, on a shared device: in a header, not in the address).
ASKED = frozenset(
    {
        "accept", "accept-language", "content-type", "range",
        "x-csrf-token", "x-hameau-passive", "x-file-name",
    }
)  # fmt: skip
ANSWERED = frozenset(
    {
        "content-type", "content-disposition", "cache-control", "etag", "last-modified",
        "content-range", "accept-ranges", "retry-after", "allow",
    }
)  # fmt: skip
RELAYED_BODY_LIMIT = 1 << 30  # a file uploaded during a visit, spooled here on its way
SPOOL_IN_MEMORY, CHUNK = 1 << 20, 1 << 16
# Kept on a shared device's browser: not "cookies", which would drop its device cookie.
CLEAR_SITE_DATA = '"cache", "storage"'
REVOKE_SECONDS = 3.0


def _own(path: str) -> bool:
    return path in ("/visit", "/healthz") or path.startswith(OWN)


def _cookie(scope: Scope, name: str) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            found = SimpleCookie()
            try:
                found.load(value.decode("latin-1"))
            except Exception:
                return ""
            if name in found:
                return found[name].value
    return ""


def _cross_site(request: Request) -> bool:
    headers = request.headers
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = headers.get("origin")
    return bool(origin and origin != "null" and urlsplit(origin).netloc != headers.get("host"))


def left(request: Request, response: Response) -> Response:
    """What a visitor's browser keeps once the visit is over: only the device's own cookie."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    response.delete_cookie(VISIT_COOKIE, path="/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    device = request.cookies.get(DEVICE_COOKIE)
    if device:  # set again, for a browser that reads Clear-Site-Data loosely
        set_device_cookie(request, response, device)
    return response


async def revoke(visit: Visit) -> None:
    """Ends the visit at home too, best effort: the home may be down, the terminal goes on."""
    client = visit.client
    try:
        await asyncio.wait_for(
            client.call("POST", "/api/hamlet/visit/revoke", data={"token": visit.access_token}),
            REVOKE_SECONDS,
        )
    except (HameauError, TimeoutError, OSError) as error:
        log.info("visit: could not end the visit at %s: %s", visit.home, error)
    finally:
        await close(visit)


async def close(visit: Visit) -> None:
    await visit.client.aclose()
    await visit.relay.aclose()


async def _content(scope: Scope, receive: Receive) -> tuple[Any, dict[str, str]]:
    """The body to send and the headers it needs: as kept by SmallBodies, or, for file
    content, spooled here (on disk past SPOOL_IN_MEMORY) while its digest is computed, so it
    streams to the home signed by that digest; bounded by RELAYED_BODY_LIMIT."""
    if "hameau.body" in scope:
        return bytes(scope["hameau.body"]), {}
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (streamed)
    digest, size = hashlib.sha256(), 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("the browser went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > RELAYED_BODY_LIMIT:
                raise PayloadTooLarge(
                    "Files sent during a visit are at most %(limit)s bytes each.",
                    limit=RELAYED_BODY_LIMIT,
                )
            digest.update(chunk)
            spool.write(chunk)
            if not message.get("more_body", False):
                break
    except BaseException:
        spool.close()
        raise
    if not size:
        spool.close()
        return b"", {}
    spool.seek(0)
    said = base64.b64encode(digest.digest()).decode()
    return _chunks(spool), {"content-length": str(size), "content-digest": f"sha-256=:{said}:"}


async def _chunks(spool: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := spool.read(CHUNK):
            yield chunk
    finally:
        spool.close()


class Relay:
    """ASGI middleware: a visitor's requests to their home, the rest to this node's app."""

    def __init__(self, app: ASGIApp, node: Any) -> None:
        self.app = app
        self.node = node

    def passes(self, scope: Scope) -> bool:
        """Whether this request goes on to the app untouched (`web/front.py`)."""
        return _own(scope["path"]) or not _cookie(scope, VISIT_COOKIE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _own(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = _cookie(scope, VISIT_COOKIE)
        if not key:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        visitors: Visitors = visitors_of(scope["app"])
        visit = visitors.find(key)
        try:
            response = await self._answer(request, scope, receive, key, visitors, visit)
        except ConnectionError:
            return
        except HameauError as error:
            response = self._failed(request, error)
        await response(scope, receive, send)

    def _failed(self, request: Request, error: HameauError) -> Response:
        """A page in words (JSON for scripts), with a way out of the visit."""
        if wants_json(request):
            return error_response(request, error)
        pages = request.app.state.pages
        context = {"status": error.status, "message": error.render(pages.gettext(request))}
        return pages.render(request, "visit_error.html", context, error.status, error.headers)

    async def _answer(
        self, request: Request, scope: Scope, receive: Receive, key: str,
        visitors: Visitors, visit: Visit | None,
    ) -> Response:  # fmt: skip
        if visit is None or not self._still_paired(visit):
            if visit is not None:
                visitors.forget(key)
                visitors.dropped.append(visit)
            # Idle or expired here: ended at home too, all at once (each bounded).
            await asyncio.gather(*(revoke(each) for each in visitors.take_dropped()))
            return left(request, RedirectResponse("/login", status_code=303))
        method = scope["method"]
        if method == "POST" and scope["path"] == "/logout":
            if _cross_site(request):
                raise Forbidden("This request came from another site and was refused.")
            visitors.forget(key)
            await revoke(visit)
            return left(request, RedirectResponse("/login", status_code=303))
        if method not in SAFE_METHODS and _cross_site(request):
            raise Forbidden("This request came from another site and was refused.")
        answer = await self._relay(request, scope, receive, visit)
        location = answer.headers.get("location", "")
        if answer.status_code == 401 or (
            300 <= answer.status_code < 400 and urlsplit(location).path == "/login"
        ):
            await answer.aclose()
            visitors.forget(key)
            if answer.status_code == 401:  # ended at home already
                await close(visit)
                return left(request, self._ended(request, visit))
            await revoke(visit)
            return left(request, RedirectResponse("/login", status_code=303))
        return self._back(answer, visit, method)

    def _still_paired(self, visit: Visit) -> bool:
        """Leaving a peer stops its visitors at once."""
        with self.node.sessions() as session:
            peer = session.get(HamletPeer, visit.peer_id)
            return peer is not None and peer.revoked_at is None

    async def _relay(self, request: Request, scope: Scope, receive: Receive, visit: Visit) -> Any:
        """The home's answer, its body not read yet."""
        import httpx

        body, framing = await _content(scope, receive)
        headers = {
            name: value
            for name, value in request.headers.items()
            if name in ASKED or name.startswith(("if-", "hx-"))
        }
        headers.update(framing)
        headers["authorization"] = f"Bearer {visit.access_token}"
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        client = visit.relay.client
        asked = client.build_request(
            scope["method"], path + (f"?{query}" if query else ""), content=body, headers=headers
        )
        try:
            return await client.send(asked, stream=True)
        except httpx.TimeoutException:
            raise VisitTimedOut(
                "Your home %(home)s did not answer in time; try again, or log out.",
                home=visit.home,
            ) from None
        except httpx.TransportError:
            raise VisitUnavailable(
                "Your home %(home)s cannot be reached from this home server just now; try again"
                " later, or log out.",
                home=visit.home,
            ) from None

    def _ended(self, request: Request, visit: Visit) -> Response:
        pages = request.app.state.pages
        return pages.render(request, "visit_ended.html", {"home": visit.home}, 401)

    def _back(self, answer: Any, visit: Visit, method: str) -> Response:
        """The home's answer, streamed back with its safe headers."""
        headers = {
            name: value
            for name, value in answer.headers.items()
            if name in ANSWERED or name.startswith("hx-")
        }
        if "content-length" in answer.headers and "content-encoding" not in answer.headers:
            headers["content-length"] = answer.headers["content-length"]
        location = answer.headers.get("location")
        if location:
            home = visit.relay.address
            if location.startswith(home):  # the home's own address: a path here
                headers["location"] = location[len(home) :] or "/"
            else:
                headers["location"] = location
        body = answer.aiter_raw() if method != "HEAD" else _nothing()
        return StreamingResponse(
            body, status_code=answer.status_code, headers=headers,
            background=BackgroundTask(answer.aclose),
        )  # fmt: skip


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""

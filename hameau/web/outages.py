"""503 with Retry-After and one sentence, from every door, while the node's database or
content store cannot be reached: the pages and the APIs raise `StoreUnavailable` (rendered
by `web/errors.py`); WsgiDAV and Radicale turn any error into a 500 of their own, which this
middleware replaces when the node noted an outage during the request (node/outages.py)."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hameau.errors import StoreUnavailable
from hameau.web.errors import error_response

log = logging.getLogger("hameau.web")


def answer(request: Request, error: StoreUnavailable) -> Response:
    """WebDAV and CalDAV clients show a plain sentence; the pages a page, the APIs JSON."""
    if not request.url.path.startswith("/dav/"):
        return error_response(request, error)
    sentence = error.render(request.app.state.pages.gettext(request))
    return PlainTextResponse(sentence, status_code=error.status, headers=error.headers)


def outage_behind(scope: Scope, raised: Exception, began: float) -> StoreUnavailable | None:
    """The 503 an error raised before any answer stands for: itself, or an outage of a
    store the node noted since ``began`` (monotonic); None for any other error."""
    if isinstance(raised, StoreUnavailable):
        return raised
    return scope["app"].state.node.outages.since(began)  # type: ignore[no-any-return]


class OutageAnswers:
    """Replaces a 5xx (without Retry-After) answered while an outage was noted, and a
    `StoreUnavailable` raised before any answer, by the 503 every door gives."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        outages = scope["app"].state.node.outages
        began = time.monotonic()
        started = False
        error: StoreUnavailable | None = None

        async def watched(message: Message) -> None:
            nonlocal started, error
            if error is not None:
                return  # the rest of the answer being replaced
            if message["type"] == "http.response.start" and message["status"] >= 500:
                names = {name.lower() for name, _value in message.get("headers", [])}
                error = None if b"retry-after" in names else outages.since(began)
                if error is not None:
                    return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as raised:
            if started:
                raise
            error = outage_behind(scope, raised, began)
            if error is None:
                raise
            log.warning("%s %s during an outage: %s", scope["method"], scope["path"], raised)
        if error is not None:
            await answer(Request(scope, receive), error)(scope, receive, send)

"""Before the middleware stack: the requests a part's mounted app answers at its front door
(the many small WebDAV PUTs of a photo archive, `files/dav_put.py`'s `NativePut.front`),
once every layer of the stack would have let them through untouched. The stack's layers cost
about a sixth of such a PUT's CPU (docs/benchmarks.md, "A small PUT's CPU, round 7").

Taken here only: a PUT under a front's mount, whose body the stack streams to its route
(`SmallBodies`' ``streamed``), with an `Authorization` header and no cookie (an app
password: no session, no shared device, no visit's cookie, no CSRF token to check), not
cross-site (`CSRFCheck`'s own test), and which every part's middleware says it passes as it
is (its ``passes(scope)``: the hamlet's relay and visits, the moving doors; a part's
middleware without one means no request is taken here). What the stack does to such an
answer is done here the same way: the security headers, the Date and `Cache-Control`
(`ResponseHeaders`), the metrics by route and status (`RequestMetrics`); WebDAV answers are
never compressed. Whatever the front does not answer (it hands back the body it read)
goes through the whole stack as any request, so every refusal is the stack's own; a layer
that cannot tell (its database down) leaves the request to the stack, and a store found out
while the front answers gives the 503 `OutageAnswers` gives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hameau.web.asgi import LazyMount
from hameau.web.metrics import Metrics
from hameau.web.middleware import CSRFCheck, ResponseHeaders
from hameau.web.outages import answer, outage_behind

log = logging.getLogger("hameau.web")

TRIED = "hameau.front"  # in the scope: the front declined it (its app need not try again)
# A mounted app's front: the request answered (None), or the `receive` to go on with.
FrontDoor = Callable[[Scope, Receive, Send], Awaitable[Receive | None]]


class Front:
    """The outermost layer of the node's stack (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        mounts: tuple[str, ...],
        layers: list[Any],
        streamed: tuple[tuple[str, str], ...],
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.mounts = {mount: mount + "/" for mount in mounts}
        self.layers = layers  # the parts' middleware, made once more (without their app)
        self.streamed = tuple(prefix for method, prefix in streamed if method == "PUT")
        self.metrics = metrics
        self.headers = ResponseHeaders(app)
        self.doors: dict[str, FrontDoor | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        mount = self._mount(scope) if scope["type"] == "http" else None
        if mount is not None and self._plain(scope):
            door = self._door(scope, mount)
            if door is not None:
                answered = await self._through(door, scope, receive, send, mount)
                if answered is None:
                    return
                receive = answered
                scope[TRIED] = True
        await self.app(scope, receive, send)

    def _mount(self, scope: Scope) -> str | None:
        if scope["method"] != "PUT" or not self.mounts:
            return None
        path = scope["path"]
        if not path.startswith(self.streamed):
            return None
        return next((mount for mount, below in self.mounts.items() if path.startswith(below)), None)

    def _plain(self, scope: Scope) -> bool:
        """No layer of the stack would do anything to this request but pass it on."""
        headers = Headers(scope=scope)
        if "cookie" in headers or "authorization" not in headers:
            return False
        if CSRFCheck._cross_site(headers):
            return False
        try:
            return all(getattr(layer, "passes", _never)(scope) for layer in self.layers)
        except Exception as error:  # its database down, say: the stack says so (503)
            log.info(
                "the front leaves %s %s to the stack: %s", scope["method"], scope["path"], error
            )
            return False

    def _door(self, scope: Scope, mount: str) -> FrontDoor | None:
        """The front of the app mounted there (built now if nobody asked it yet)."""
        if mount not in self.doors:
            found = None
            for route in scope["app"].router.routes:
                if isinstance(route, Mount) and route.path == mount:
                    built = route.app
                    if isinstance(built, LazyMount):
                        built = built.built()
                    found = getattr(built, "front", None)
                    break
            self.doors[mount] = found
        return self.doors[mount]

    async def _through(
        self, door: FrontDoor, scope: Scope, receive: Receive, send: Send, mount: str
    ) -> Receive | None:
        started, status = time.perf_counter(), 0

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = self.headers.completed(message.get("headers", []))
            await send(message)

        inner = {**scope, "root_path": scope.get("root_path", "") + mount}
        began = time.monotonic()
        try:
            answered = await door(inner, receive, sent)
        except Exception as raised:  # as `OutageAnswers` below: a 503 while a store is out
            error = outage_behind(scope, raised, began)
            if status or error is None:
                raise
            log.warning("%s %s during an outage: %s", scope["method"], scope["path"], raised)
            await answer(Request(scope, receive), error)(scope, receive, sent)
            answered = None
        if status:  # as `RequestMetrics` names it: the mount's route
            self.metrics.observe(scope["method"], mount, status, time.perf_counter() - started)
        return answered


def _never(_scope: Scope) -> bool:
    return False

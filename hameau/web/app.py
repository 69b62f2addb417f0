"""The app factory: the one place that lists the apps and assembles the middleware stack."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware, GZipResponder
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hameau import __version__
from hameau.accounts import api as accounts_api
from hameau.accounts import views as accounts_views
from hameau.accounts.members import count_members
from hameau.accounts.models import LoginSession, Member
from hameau.accounts.ratelimit import LoginLimiter
from hameau.accounts.sessions import Lifetimes
from hameau.ai import api as ai_api
from hameau.ai import views as ai_views
from hameau.ai.backend import Backend
from hameau.ai.runtime import Runtime
from hameau.ai.views import Asks
from hameau.calendar import views as calendar_views
from hameau.calendar.store import CalendarStore
from hameau.files import api as files_api
from hameau.files import space as files_space
from hameau.files import views as files_views
from hameau.files.scrub import Scrubber
from hameau.messages import views as messages_views
from hameau.messages.live import Bus
from hameau.node.datadir import Node
from hameau.node.db import utcnow
from hameau.node.identity import derive
from hameau.notes import views as notes_views
from hameau.travel import api as travel_api
from hameau.travel import api_calendars as travel_calendars
from hameau.travel import api_notes as travel_notes
from hameau.travel import satellite as travel_record
from hameau.travel import views as travel_views
from hameau.travel.autosync import AutoSync
from hameau.travel.reach import Proofs
from hameau.web import home
from hameau.web.csrf import CSRF
from hameau.web.errors import HANDLERS
from hameau.web.metrics import Metrics
from hameau.web.middleware import CSRFCheck, RequestMetrics, ResponseHeaders, SmallBodies
from hameau.web.openapi import describe
from hameau.web.templating import PACKAGE, Pages

# The apps of the node, in the order of the home page. Adding an app is one line here.
APPS = [
    files_views.APP,
    calendar_views.APP,
    notes_views.APP,
    messages_views.APP,
    travel_views.APP,
    ai_views.APP,
    accounts_views.APP,
]
ROUTERS = [
    home.router,
    accounts_views.router,
    accounts_api.router,
    files_views.router,
    files_api.router,
    files_api.trash_router,
    files_space.router,
    calendar_views.router,
    notes_views.router,
    notes_views.api,
    messages_views.router,
    travel_api.router,
    travel_notes.router,
    travel_calendars.router,
    travel_views.router,
    ai_api.router,
    ai_views.router,
]
TEMPLATE_DOMAINS = ["accounts", "files", "calendar", "notes", "messages", "travel", "ai"]
# Requests whose bodies are file content, streamed to their route (which bounds them by the
# member's quota) rather than read here: (method, path prefix).
STREAMED = (
    ("PUT", "/api/files/"),
    ("PUT", "/dav/files/"),
    ("POST", "/files/upload"),
    ("PUT", "/files/item/"),  # a shared device's upload, the folder by id
    ("POST", "/api/travel/blobs/upload"),
)
# JSON bodies allowed beyond `max_form_bytes`: a satellite's sync batches (paths, hashes).
LARGER_BODIES = {"/api/travel/": 16 << 20}


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            self.app = self.factory()
        await self.app(scope, receive, send)


def _webdav(node: Node) -> ASGIApp:
    from hameau.files.dav_app import make_dav_asgi
    from hameau.files.dav_range import RangeCheck

    return RangeCheck(make_dav_asgi(node))


def _caldav(node: Node) -> ASGIApp:
    from hameau.calendar.radicale import make_caldav_asgi

    return make_caldav_asgi(node)  # type: ignore[no-any-return]


def _gauges(node: Node):  # type: ignore[no-untyped-def]
    def read() -> dict[str, tuple[str, float]]:
        with node.sessions() as session:
            members = session.scalar(
                select(func.count(Member.id)).where(Member.disabled_at.is_(None))
            )
            live = session.scalar(
                select(func.count(LoginSession.id)).where(
                    LoginSession.revoked_at.is_(None), LoginSession.expires_at > utcnow()
                )
            )
        return {
            "hameau_members": ("Active members of the node.", float(members or 0)),
            "hameau_sessions": ("Login sessions not ended.", float(live or 0)),
        }

    return read


def _member_names(node: Node) -> Callable[[], list[str]]:
    def names() -> list[str]:
        with node.sessions() as session:
            return list(session.scalars(select(Member.name)))

    return names


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """A satellite syncs by itself while served (see `travel.autosync`); every node checks
    its stored files once a week (see `files.scrub`), nothing else runs in the background.
    At the end, the AI's model is let go."""
    auto = app.state.autosync
    if auto is not None:
        auto.start()
    app.state.scrubber.start()  # one timer, for the weekly check of the stored files
    yield
    await app.state.scrubber.stop()
    if auto is not None:
        await auto.stop()
    await app.state.ai.close()  # the model let go, its server process stopped


def create_app(node: Node) -> FastAPI:
    settings = node.settings
    csrf = CSRF(derive(node.secret, "csrf"))
    metrics = Metrics(
        _gauges(node),
        {"data": node.layout.root, "blobs": node.blobs.local_folder() or node.layout.root},
    )
    middleware = [
        # Outermost, so the other layers' error pages are compressed too; level 6: a small CPU.
        Middleware(Compressed, minimum_size=500, compresslevel=6),
        Middleware(ResponseHeaders),
        Middleware(RequestMetrics, metrics=metrics),
        Middleware(
            SmallBodies,
            limit=settings.max_form_bytes,
            streamed=STREAMED,
            larger={"/dav/": settings.max_dav_body_bytes, **LARGER_BODIES},
        ),
        Middleware(CSRFCheck, csrf=csrf),
    ]
    app = FastAPI(
        title="hameau",
        version=__version__,
        middleware=middleware,
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
        # The API description is served to members only, by home.openapi (no CDN-hosted UI).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.node = node
    # A satellite (a travel copy of one member's things) is a node with a satellite record.
    app.state.satellite = travel_record.load(node.layout.root)
    app.state.autosync = AutoSync(node) if app.state.satellite is not None else None
    app.state.scrubber = Scrubber(node)
    app.state.travel_proofs = Proofs()  # contents a satellite sent, until its paths are applied
    app.state.csrf = csrf
    app.state.metrics = metrics
    app.state.apps = APPS
    app.state.pages = Pages(node.name, settings.default_locale, TEMPLATE_DOMAINS)
    app.state.lifetimes = Lifetimes.from_settings(settings)
    app.state.limiter = LoginLimiter(
        settings.login_max_failures,
        settings.login_max_failures_per_address,
        settings.login_window_minutes * 60,
        accounts=_member_names(node),  # their failures are never forgotten early
    )
    with node.sessions() as session:
        empty = count_members(session) == 0
    # The first admin is created in the browser, from loopback or with this one-time code.
    app.state.setup_code = secrets.token_hex(4) if empty else None
    app.mount("/static", StaticAssets(directory=PACKAGE / "web" / "static"), name="static")
    app.mount("/dav/files", LazyMount(lambda: _webdav(node)), name="webdav")  # dav_app.MOUNT
    app.mount("/dav/cal", LazyMount(lambda: _caldav(node)), name="caldav")  # radicale.MOUNT
    app.state.calendars = CalendarStore(node)
    app.state.bus = Bus()
    app.state.ai = Runtime(node)  # loads nothing until the AI is asked
    app.state.ai_backend = Backend(node) if settings.ai_backend_url else None
    app.state.ai_asks = Asks()  # questions posted from the AI page, until their answer streams
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = lambda: describe(app)  # type: ignore[method-assign]
    return app

"""The app factory: the node's web app, assembled from the registry of parts (`hameau/parts.py`).

This is the assembly layer: it may import every part; no part imports it. Each part's
routers, mounts, templates, home tiles and `app.state` entries come from its registry entry,
in the registry's order; the web machinery (middleware, compression, static files) from `web`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

from hameau import __version__, trips
from hameau.accounts.models import LoginSession, Member
from hameau.node.datadir import Node
from hameau.node.db import utcnow
from hameau.node.identity import derive
from hameau.parts import PARTS, Part, load
from hameau.web.asgi import Compressed, LazyMount, StaticAssets
from hameau.web.csrf import CSRF
from hameau.web.errors import HANDLERS
from hameau.web.front import Front
from hameau.web.metrics import Metrics
from hameau.web.middleware import CSRFCheck, RequestMetrics, ResponseHeaders, SmallBodies
from hameau.web.openapi import describe
from hameau.web.outages import OutageAnswers
from hameau.web.templating import PACKAGE, Pages

# Requests whose bodies are file content, streamed to their route (which bounds them by the
# member's quota) rather than read here: (method, path prefix).
STREAMED = (
    ("PUT", "/api/files/"),
    ("PUT", "/dav/files/"),
    ("POST", "/files/upload"),
    ("POST", "/compute/jobs"),  # a job's module and inputs, spooled by the form parser
    ("PUT", "/files/item/"),  # a shared device's upload, the folder by id
    ("POST", "/api/travel/blobs/upload"),
    ("POST", "/api/hamlet/moves/contents/"),  # signed by its index, bound by it (moving/stream.py)
)
# JSON bodies allowed beyond `max_form_bytes`: a satellite's sync batches (paths, hashes);
# a move's lists of hashes.
LARGER_BODIES = {
    "/api/travel/": 16 << 20,
    "/api/hamlet/moves/": 16 << 20,
    "/api/hamlet/backup/": 144 << 20,  # a peer's restic pack (hameau/backup/store.py)
    "/api/hamlet/compute/": 5 << 20,  # a job's content in 4 MiB pieces (compute/provider.py)
}


def _gauges(node: Node) -> Callable[[], dict[str, tuple[str, float]]]:
    def read() -> dict[str, tuple[str, float]]:
        with node.sessions() as session:
            members = session.scalar(
                select(func.count(Member.id)).where(
                    Member.disabled_at.is_(None), Member.moved_to.is_(None)
                )
            )
            live = session.scalar(
                select(func.count(LoginSession.id)).where(
                    LoginSession.revoked_at.is_(None), LoginSession.expires_at > utcnow()
                )
            )
        return {
            "hameau_members": ("Active members living here.", float(members or 0)),
            "hameau_sessions": ("Login sessions not ended.", float(live or 0)),
        }

    return read


def _export_member(node: Node, member_id: int, out: Path) -> Any:
    """The export, for the account page (accounts, a part, does not import the assembly)."""
    from hameau.export import export_member

    return export_member(node, member_id, out)


def _environment() -> Any:
    """Export and import by reference, for moving home (a part: it does not import these)."""
    from hameau import export

    return export


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """What the parts run in the background starts here and stops at the end, in reverse
    (a satellite's automatic sync, the weekly check of stored files, the AI's model let go);
    nothing else runs in the background."""
    for start in app.state.starts:
        start()
    yield
    for stop in reversed(app.state.stops):
        await stop()


def _middleware(node: Node, csrf: CSRF, metrics: Metrics) -> list[Middleware]:
    settings = node.settings
    layers = [load(each) for part in PARTS for each in part.middleware]
    return [
        # Before everything, the requests a part's mount answers at its front door once every
        # layer below would let them through (the many small WebDAV PUTs; web/front.py).
        Middleware(
            Front,
            mounts=tuple(mount for part in PARTS for mount in part.fronts),
            layers=[layer(None, node=node) for layer in layers],
            streamed=STREAMED,
            metrics=metrics,
        ),
        # Outermost, so the other layers' error pages are compressed too; level 6: a small CPU.
        Middleware(Compressed, minimum_size=500, compresslevel=6),
        Middleware(ResponseHeaders),
        Middleware(RequestMetrics, metrics=metrics),
        Middleware(OutageAnswers),  # 503 from every door while the database is unreachable
        Middleware(
            SmallBodies,
            limit=settings.max_form_bytes,
            streamed=STREAMED,
            larger={"/dav/": settings.max_dav_body_bytes, **LARGER_BODIES},
        ),
        *(Middleware(layer, node=node) for layer in layers),
        Middleware(CSRFCheck, csrf=csrf),
        Middleware(PartsOnFirstUse),
    ]


class PartRoutes(BaseRoute):
    """Where a part's routers go once they are loaded, so the registry's order (and with it
    which route answers a path) is the same whatever part is used first; matches nothing."""

    def __init__(self, part: Part) -> None:
        self.part = part
        self.paths = frozenset(part.paths or ())
        self.below = tuple(path + "/" for path in self.paths)

    def serves(self, path: str) -> bool:
        return path in self.paths or path.startswith(self.below)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a part's routes are included before they are asked")


def _load_part(app: FastAPI, waiting: PartRoutes) -> None:
    """Import a part's routers and include them where the part stands in the registry."""
    app.state.waiting_parts.remove(waiting)
    routes = app.router.routes
    before = len(routes)
    for router in waiting.part.routers:
        app.include_router(load(router))
    added = routes[before:]
    del routes[before:]
    at = routes.index(waiting)
    routes[at : at + 1] = added
    getattr(app.router, "_mark_routes_changed", lambda: None)()


def load_parts(app: FastAPI, path: str | None = None) -> FastAPI:
    """The routers of the parts not loaded yet that serve `path` (every one: None)."""
    for waiting in list(app.state.waiting_parts):
        if path is None or waiting.serves(path):
            _load_part(app, waiting)
    return app


class PartsOnFirstUse:
    """A part's routers are imported on the first request under its paths: a node serves its
    home page without the modules of pages nobody opened (see docs/benchmarks.md, "Idle")."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and scope["app"].state.waiting_parts:
            load_parts(scope["app"], scope["path"])
        await self.app(scope, receive, send)


def _mounted(factory: str, node: Node) -> Any:
    return load(factory)(node)


def _add_parts(app: FastAPI, node: Node) -> None:
    """Every part's pieces, in the registry's order (the home's tiles and the navigation's)."""
    app.state.apps = [load(part.app) for part in PARTS if part.app]
    app.state.pages = Pages(
        node.name, node.settings.default_locale, [part.name for part in PARTS if part.templates]
    )
    app.mount("/static", StaticAssets(directory=PACKAGE / "web" / "static"), name="static")
    for part in PARTS:
        if part.state:
            load(part.state)(app, node)
        for path, factory in part.mounts:  # built on their first request
            app.mount(path, LazyMount(partial(_mounted, factory, node)), name=part.name + path)
        for router in part.routers_at_start:
            app.include_router(load(router))
        if part.paths is not None:  # on the first request under its paths
            app.state.waiting_parts.append(PartRoutes(part))
            app.router.routes.append(app.state.waiting_parts[-1])
            continue
        for router in part.routers:
            app.include_router(load(router))


def create_app(node: Node) -> FastAPI:
    csrf = CSRF(derive(node.secret, "csrf"))
    metrics = Metrics(
        _gauges(node),
        {"data": node.layout.root, "blobs": node.blobs.local_folder() or node.layout.root},
    )
    app = FastAPI(
        title="hameau",
        version=__version__,
        middleware=_middleware(node, csrf, metrics),
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
        # The API description is served to members only, by home.openapi (no CDN-hosted UI).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.node = node
    app.state.csrf = csrf
    app.state.metrics = metrics
    app.state.export_member = _export_member
    app.state.syncing = trips.domains  # for travel, which never imports the registry
    node.assembled.setdefault("environment", _environment)
    app.state.starts = []  # Callable[[], None]
    app.state.stops = []  # Callable[[], Awaitable[None]]
    # Callable[[request, db, visitor], (html, login session ids)]: parts' sections of the
    # member's sessions page, and the sessions they list there instead.
    app.state.session_sections = []
    app.state.waiting_parts = []  # PartRoutes: parts whose routers are not loaded yet
    # Async callables [request, db, visitor] -> HTML: parts' sections of the home page.
    app.state.home_sections = []
    _add_parts(app, node)
    app.openapi = lambda: describe(load_parts(app))  # type: ignore[method-assign]
    return app

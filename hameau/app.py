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

from hameau import __version__, trips
from hameau.accounts.models import LoginSession, Member
from hameau.node.datadir import Node
from hameau.node.db import utcnow
from hameau.node.identity import derive
from hameau.parts import PARTS, load
from hameau.web.asgi import Compressed, LazyMount, StaticAssets
from hameau.web.csrf import CSRF
from hameau.web.errors import HANDLERS
from hameau.web.metrics import Metrics
from hameau.web.middleware import CSRFCheck, RequestMetrics, ResponseHeaders, SmallBodies
from hameau.web.openapi import describe
from hameau.web.templating import PACKAGE, Pages

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


def _gauges(node: Node) -> Callable[[], dict[str, tuple[str, float]]]:
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


def _export_member(node: Node, member_id: int, out: Path) -> Any:
    """The export, for the account page (accounts, a part, does not import the assembly)."""
    from hameau.export import export_member

    return export_member(node, member_id, out)


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
    return [
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
        *(Middleware(load(each), node=node) for part in PARTS for each in part.middleware),
        Middleware(CSRFCheck, csrf=csrf),
    ]


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
    app.state.starts = []  # Callable[[], None]
    app.state.stops = []  # Callable[[], Awaitable[None]]
    # Callable[[request, db, visitor], (html, login session ids)]: parts' sections of the
    # member's sessions page, and the sessions they list there instead.
    app.state.session_sections = []
    # Async callables [request, db, visitor] -> HTML: parts' sections of the home page.
    app.state.home_sections = []
    _add_parts(app, node)
    app.openapi = lambda: describe(app)  # type: ignore[method-assign]
    return app

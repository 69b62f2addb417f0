"""The member's home page, which hosts the apps, and the node's health and metrics."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from markupsafe import Markup
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from hameau.accounts import workspace
from hameau.accounts.members import count_members
from hameau.errors import Forbidden
from hameau.web.auth import DB, AnyVisitor, MemberVisitor, is_loopback

router = APIRouter()


@dataclass(frozen=True)
class Tile:
    title: str  # msgid
    description: str  # msgid
    href: str
    admin_only: bool = False


@dataclass(frozen=True)
class AppInfo:
    """What an app shows on the home page."""

    name: str
    tiles: tuple[Tile, ...]


@router.get("/", include_in_schema=False)
async def home_page(request: Request, db: DB, visitor: AnyVisitor) -> Response:
    if visitor.member is None:
        target = "/setup" if count_members(db) == 0 else "/login"
        return RedirectResponse(target, status_code=303)
    tiles = [
        tile
        for app in request.app.state.apps
        for tile in app.tiles
        if visitor.member.is_admin or not tile.admin_only
    ]
    offer = workspace.resume_offer(db, visitor.login) if visitor.login else None
    # Parts add sections (the proposal to move home): async callables giving HTML.
    sections = []
    for part in request.app.state.home_sections:
        sections.append(Markup(await part(request, db, visitor)))  # noqa: S704 (autoescaped)
    context = {"tiles": tiles, "offer": offer, "sections": sections}
    return request.app.state.pages.render(request, "home.html", context)


@router.get("/healthz", include_in_schema=False)
async def healthz(db: DB) -> JSONResponse:
    """Unauthenticated on purpose: supervisors and load balancers ask it; it tells nothing private."""
    db.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok"})


@router.get("/api/openapi.json", include_in_schema=False)
async def openapi(request: Request, visitor: MemberVisitor) -> JSONResponse:
    """The OpenAPI description of the node's JSON API, for logged-in members and clients."""
    return JSONResponse(request.app.openapi())


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, visitor: AnyVisitor) -> Response:
    """Prometheus text format, for admins or a scraper on the node itself."""
    admin = visitor.member is not None and visitor.member.is_admin
    if not (admin or is_loopback(request)):
        raise Forbidden("Metrics are for the node's admins, or for loopback.")
    return Response(
        request.app.state.metrics.render(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )

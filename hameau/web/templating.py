"""Server-rendered pages: one Jinja2 environment over every domain's templates."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from hameau import __version__
from hameau.web.i18n import Formatter, choose_locale, load_catalogues

if TYPE_CHECKING:
    from gettext import NullTranslations

    from jinja2 import Environment

PACKAGE = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class NavEntry:
    title: str  # msgid
    href: str
    current: bool


def _prefixes(apps: list[Any]) -> list[tuple[str, int]]:
    """(path prefix, app index) for every tile: the address's first segment, or the whole
    address when several apps share that segment (/admin/members and /admin/space)."""
    owners: dict[str, set[int]] = {}
    for index, app in enumerate(apps):
        for tile in app.tiles:
            owners.setdefault("/" + tile.href.strip("/").split("/")[0], set()).add(index)
    found = []
    for index, app in enumerate(apps):
        for tile in app.tiles:
            first = "/" + tile.href.strip("/").split("/")[0]
            found.append((first if len(owners[first]) == 1 else tile.href.rstrip("/"), index))
    return found


def navigation(apps: list[Any], path: str, is_admin: bool) -> list[NavEntry]:
    """One entry per app the visitor may use (its first tile they see); the app whose
    address is the longest prefix of `path` is the current one."""
    matches = [
        (len(prefix), index)
        for prefix, index in _prefixes(apps)
        if path == prefix or path.startswith(prefix + "/")
    ]
    current = max(matches)[1] if matches else None
    entries = []
    for index, app in enumerate(apps):
        tiles = [tile for tile in app.tiles if is_admin or not tile.admin_only]
        if tiles:
            entries.append(NavEntry(tiles[0].title, tiles[0].href, index == current))
    return entries


class Pages:
    """The templates and the catalogues, both made on first use (the first page or error),
    so a node at rest holds neither Jinja2 nor the translations (docs/benchmarks.md, "Idle")."""

    def __init__(self, node_name: str, default_locale: str, domains: list[str]) -> None:
        self.folders = [PACKAGE / "web" / "templates"] + [
            PACKAGE / name / "templates" for name in domains
        ]
        self.node_name = node_name
        self.default_locale = default_locale

    @cached_property
    def env(self) -> Environment:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        return Environment(
            loader=FileSystemLoader([str(folder) for folder in self.folders if folder.is_dir()]),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )

    @cached_property
    def catalogues(self) -> dict[str, NullTranslations]:
        return load_catalogues()

    def locale_for(self, request: Request) -> str:
        locale = getattr(request.state, "locale", None)
        if locale:
            return locale
        return choose_locale(None, request.headers.get("accept-language", ""), self.default_locale)

    def gettext(self, request: Request) -> Any:
        return self.catalogues[self.locale_for(request)].gettext

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        locale = self.locale_for(request)
        catalogue = self.catalogues[locale]
        visitor = getattr(request.state, "visitor", None)
        csrf = request.app.state.csrf
        values = {
            "request": request,
            "_": catalogue.gettext,
            "ngettext": catalogue.ngettext,
            "locale": locale,
            "fmt": Formatter(locale),
            "visitor": visitor,
            "node_name": self.node_name,
            "version": __version__,
            "csrf_token": csrf.token_for(request),
        }
        member = getattr(visitor, "member", None)
        if member is not None:
            apps = getattr(request.app.state, "apps", [])
            values["nav"] = navigation(apps, request.url.path, member.is_admin)
        values.update(context or {})
        html = self.env.get_template(name).render(values)
        if on_a_shared_device(visitor):
            html = html.replace("<form ", '<form autocomplete="off" ')
        return HTMLResponse(html, status_code=status, headers=headers)


def on_a_shared_device(visitor: Any) -> bool:
    """Whether the page goes to a shared device. There, every form is marked
    autocomplete="off", so the browser keeps no form history: Chromium's suggestions would
    show the next person what the last one typed (a message's subject, a note's words). The
    templates' own `<form ` is what is marked; what members wrote is escaped (`&lt;form`)."""
    login, device = getattr(visitor, "login", None), getattr(visitor, "device", None)
    return bool(getattr(login, "shared", False) or getattr(device, "shared", False))

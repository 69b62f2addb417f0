"""The registry of parts: every domain of the node declares itself here, once.

A part says where its pieces are (routers, navigation entry and home tiles, CLI groups,
templates, tables, error classes, mounts) and how the environment reaches its data (its
**environment adapter**). The app factory, the CLI, the message extraction, export and
import, travel, and later moving home, backups and the footprint loop over `PARTS`; no other
place lists the domains. Adding an app is one new folder and one entry here.

References are strings ("module:attribute"), so reading the registry imports nothing: a short
command such as `hameau member list` loads only the part it runs.

The environment adapter of a part is two modules, by what uses them:

- `environment` (export, import, usage): module-level functions
  `export(node, session, member, archive)`, `import_(node, session, member, archive)` (the
  inverse, idempotent; with `replace=True`, the member's data there becomes exactly the
  archive's) and `usage(node, session, member) -> Usage`;
- `sync` (where the domain syncs to a satellite): `changes_since(node, member, cursor)` and
  `apply(node, member, changes)`.

`Adapter` puts both behind the five operations; a part without one of them leaves it None.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any


def load(reference: str) -> Any:
    """The object a "module:attribute" reference names (the module alone without ":")."""
    module, _, attribute = reference.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attribute) if attribute else loaded


@dataclass(frozen=True)
class Command:
    """A top-level CLI group or command of a part, known by name and help without importing it."""

    name: str
    target: str  # "module:typer_app" (a group) or "module:function" (one command)
    help: str


@dataclass(frozen=True)
class Part:
    name: str
    # "module:APP" (an AppInfo: the navigation entry and the home tiles), in the home's order;
    # a light module (`tiles.py`), since the home page shows every part's tiles.
    app: str | None = None
    routers: tuple[str, ...] = ()  # "module:router", included in this order
    # URL path prefixes of every route of its routers: the routers are then imported and
    # included on the first request under one of them (or when the API is described), not
    # at start. None: included at start.
    paths: tuple[str, ...] | None = None
    routers_at_start: tuple[str, ...] = ()  # included at start, before `routers`, in any case
    mounts: tuple[tuple[str, str], ...] = ()  # (path, "module:factory(node) -> ASGI app")
    # Paths of its mounts whose app answers some requests before the middleware stack, by its
    # `front(scope, receive, send)` (web/front.py: the many small WebDAV PUTs).
    fronts: tuple[str, ...] = ()
    commands: tuple[Command, ...] = ()
    templates: bool = False  # hameau/<name>/templates
    models: tuple[str, ...] = ()  # modules declaring tables, for the migrations
    errors: tuple[str, ...] = ()  # modules declaring error classes with user sentences
    environment: str | None = None  # module: export, import_, usage
    sync: str | None = None  # module: changes_since, apply
    settings: tuple[str, ...] = field(default=())  # the names of its settings in config.Settings
    # "module:Class(app, node=node)": ASGI middleware of the part, run after the bodies are
    # read and before the CSRF check (e.g. authenticating requests relayed for a visit).
    middleware: tuple[str, ...] = ()
    # "module:function(app, node)": sets the part's `app.state` entries when the app is made;
    # it may append to `app.state.starts` (called at start) and `app.state.stops` (awaited at
    # the end), for what runs in the background.
    state: str | None = None


class Adapter:
    """A part's environment adapter: the five operations, each None where the part has none."""

    def __init__(self, part: Part) -> None:
        self.part = part

    def _module(self, reference: str | None) -> ModuleType | None:
        return load(reference) if reference else None

    def _operation(self, reference: str | None, name: str) -> Any:
        module = self._module(reference)
        return getattr(module, name, None) if module is not None else None

    @property
    def export(self) -> Any:
        return self._operation(self.part.environment, "export")

    @property
    def import_(self) -> Any:
        return self._operation(self.part.environment, "import_")

    @property
    def usage(self) -> Any:
        return self._operation(self.part.environment, "usage")

    @property
    def changes_since(self) -> Any:
        return self._operation(self.part.sync, "changes_since")

    @property
    def apply(self) -> Any:
        return self._operation(self.part.sync, "apply")


PARTS: tuple[Part, ...] = (
    Part(
        "files",
        app="hameau.files.tiles:APP",
        routers=(
            "hameau.files.previews:router",  # before views: its /files/{key}/{path} takes all
            "hameau.files.views:router",
            "hameau.files.api:router",
            "hameau.files.api:trash_router",
            "hameau.files.space:router",
        ),
        paths=("/files", "/api/files", "/api/trash", "/admin/space"),
        mounts=(("/dav/files", "hameau.files.dav_app:mounted"),),
        fronts=("/dav/files",),
        templates=True,
        models=("hameau.files.models", "hameau.files.journal"),
        environment="hameau.files.environment",
        state="hameau.files.scrub:attach",
        sync="hameau.files.sync",
    ),
    Part(
        "calendar",
        app="hameau.calendar.tiles:APP",
        routers=("hameau.calendar.views:router",),
        paths=("/agenda", "/contacts", "/.well-known/caldav", "/.well-known/carddav"),
        mounts=(("/dav/cal", "hameau.calendar.radicale:make_caldav_asgi"),),
        templates=True,
        environment="hameau.calendar.environment",
        state="hameau.calendar.state:attach",
        sync="hameau.calendar.sync",
    ),
    Part(
        "notes",
        app="hameau.notes.tiles:APP",
        routers=("hameau.notes.views:router", "hameau.notes.views:api"),
        paths=("/notes", "/api/notes", "/search"),
        templates=True,
        models=("hameau.notes.models",),
        environment="hameau.notes.environment",
        sync="hameau.notes.sync",
    ),
    Part(
        "messages",
        app="hameau.messages.tiles:APP",
        routers=("hameau.messages.views:router",),
        paths=("/messages",),
        templates=True,
        models=("hameau.messages.models",),
        environment="hameau.messages.environment",
        state="hameau.messages.live:attach",
    ),
    Part("search"),
    Part(
        "travel",
        app="hameau.travel.tiles:APP",
        routers=(
            "hameau.travel.api:router",
            "hameau.travel.api_notes:router",
            "hameau.travel.api_calendars:router",
            "hameau.travel.views:router",
        ),
        paths=("/travel", "/api/travel"),
        models=("hameau.travel.models",),
        commands=(
            Command(
                "travel",
                "hameau.travel.cli:travel_app",
                "Travel: a satellite copy of your things on a laptop, synced with home.",
            ),
        ),
        templates=True,
        state="hameau.travel.state:attach",
    ),
    Part(
        "ai",
        app="hameau.ai.tiles:APP",
        routers=(
            "hameau.ai.api:router",
            "hameau.ai.api:history_router",
            "hameau.ai.views:router",
            "hameau.ai.lending_api:router",
            "hameau.ai.lending_views:router",
        ),
        paths=("/ai", "/api/ai", "/v1", "/hamlet/ai", "/api/hamlet/ai"),
        commands=(
            Command(
                "ai",
                "hameau.ai.cli:ai_app",
                "The node's own AI: models, questions from the command line, lending it to peers.",
            ),
        ),
        templates=True,
        models=("hameau.ai.models", "hameau.ai.lending_models"),
        environment="hameau.ai.environment",
        state="hameau.ai.state:attach",
    ),
    Part(
        "hamlet",
        app="hameau.hamlet.tiles:APP",
        routers=(
            "hameau.hamlet.api:router",
            "hameau.hamlet.nearby:router",
            "hameau.hamlet.pages:router",
            "hameau.hamlet.visit_views:router",
            "hameau.hamlet.visit_views:api",
            "hameau.hamlet.visit_device_views:router",
            "hameau.hamlet.visit_device_views:api",
            "hameau.hamlet.terminal:router",
            "hameau.hamlet.terminal_device:router",
        ),
        paths=(
            "/hamlet",
            "/api/hamlet",
            "/visit",
            "/account/visits",
            "/.well-known/openid-configuration",
        ),
        # The relay first: a terminal's visitor never reaches this node's own pages.
        middleware=("hameau.hamlet.relay:Relay", "hameau.hamlet.visit_auth:VisitAuthentication"),
        commands=(
            Command(
                "hamlet",
                "hameau.hamlet.cli:hamlet_app",
                "The hamlet: pair this node with other homes' nodes, list them, leave one.",
            ),
        ),
        models=("hameau.hamlet.models", "hameau.hamlet.visit_models"),
        errors=("hameau.hamlet.errors",),
        settings=("hamlet_clock_skew_seconds", "hamlet_peer_timeout_seconds", "hamlet_announce"),
        templates=True,
        state="hameau.hamlet.state:attach",
    ),
    Part(
        "moving",
        middleware=("hameau.moving.doors:Doors",),  # after the hamlet's: a visit is a door too
        app="hameau.moving.tiles:APP",  # with the home page's proposal (state.py)
        routers=("hameau.moving.views:router", "hameau.moving.api:router"),
        paths=("/account/move", "/moves", "/api/hamlet/moves"),
        commands=(
            Command(
                "move",
                "hameau.moving.cli:move_app",
                "Moving home: a member's whole environment to a paired home, resumable, with"
                " a rollback.",
            ),
        ),
        templates=True,
        models=("hameau.moving.models", "hameau.moving.proposal_models"),
        errors=("hameau.moving.errors",),
        settings=(
            "moving_accept_from",
            "move_rollback_days",
            "move_propose_days",
            "move_propose_share",
        ),
        state="hameau.moving.state:attach",
    ),
    Part(
        "backup",
        app="hameau.backup.tiles:APP",
        routers=("hameau.backup.views:router", "hameau.backup.store_api:router"),
        paths=("/backup", "/api/hamlet/backup"),
        commands=(
            Command(
                "backup",
                "hameau.backup.cli:backup_app",
                "Backups: to a folder (a USB disk) or a neighbour's node; restore after losing"
                " the disk.",
            ),
        ),
        templates=True,
        models=("hameau.backup.models",),
        errors=("hameau.backup.errors",),
        environment="hameau.backup.environment",
        settings=(
            "backup_every_hours",
            "backup_targets",
            "backup_keep_daily",
            "backup_keep_weekly",
            "backup_keep_monthly",
            "backup_warn_days",
        ),
        state="hameau.backup.state:attach",
    ),
    Part(
        "footprint",
        app="hameau.footprint.tiles:APP",
        routers=("hameau.footprint.views:router",),
        paths=("/footprint",),
        commands=(
            Command(
                "impact",
                "hameau.footprint.cli:impact_app",
                "The footprint: the household's devices and node, measured or from open data.",
            ),
        ),
        templates=True,
        models=("hameau.footprint.models",),
        settings=("footprint_powercap", "footprint_sample_minutes"),
        state="hameau.footprint.state:attach",
    ),
    Part(
        "ledger",
        app="hameau.ledger.tiles:APP",
        routers=("hameau.ledger.views:router", "hameau.ledger.api:router"),
        paths=("/credit", "/api/hamlet/ledger"),
        commands=(
            Command(
                "ledger",
                "hameau.ledger.cli:ledger_app",
                "The hamlet's credit: balances, history, transfers, verifying the ledger.",
            ),
        ),
        templates=True,
        models=("hameau.ledger.models",),
        environment="hameau.ledger.environment",
        settings=("ledger_escrow",),
    ),
    Part(
        "compute",
        app="hameau.compute.tiles:APP",
        routers=(
            "hameau.compute.api:router",
            "hameau.compute.views:router",
            "hameau.compute.offer_views:router",
        ),
        paths=("/compute", "/api/hamlet/compute"),
        commands=(
            Command(
                "compute",
                "hameau.compute.cli:compute_app",
                "Lending idle compute: WebAssembly jobs run, verified and paid across the hamlet.",
            ),
        ),
        templates=True,
        models=("hameau.compute.models", "hameau.compute.offer_models"),
        errors=("hameau.compute.errors",),
        settings=(
            "compute_idle_load",
            "compute_idle_minutes",
            "compute_vacate_minutes",
            "compute_check_seconds",
            "compute_lost_seconds",
            "compute_match_minutes",
            "compute_settle_minutes",
            "compute_escrow_margin_minutes",
            "compute_tamper_outputs",
        ),
        state="hameau.compute.state:attach",
    ),
    Part(
        "accounts",
        app="hameau.accounts.tiles:APP",
        # The home page and the login at start; the account and admin pages and the members'
        # JSON API on their first request.
        routers_at_start=("hameau.web.home:router", "hameau.accounts.login:router"),
        routers=("hameau.accounts.views:router", "hameau.accounts.api:router"),
        paths=(
            "/account",
            "/admin/members",
            "/admin/devices",
            "/api/me",
            "/api/members",
            "/api/sessions",
            "/api/tokens",
            "/api/devices",
            "/api/workspace",
        ),
        commands=(
            Command("member", "hameau.accounts.cli:member_app", "Members of the household."),
            Command(
                "token",
                "hameau.accounts.cli:token_app",
                "App passwords for clients (WebDAV, CalDAV, API).",
            ),
            Command("device", "hameau.accounts.cli:device_app", "The household's devices."),
        ),
        templates=True,
        models=("hameau.accounts.models",),
        environment="hameau.accounts.environment",
        state="hameau.accounts.state:attach",
    ),
)


# The node's own commands: they assemble the parts (or come before any), so they belong to no
# part. The command line lists them first, then each part's, in the registry's order.
COMMANDS: tuple[Command, ...] = (
    Command("init", "hameau.node.cli:init", "Create a node: identity key, database, blob store."),
    Command(
        "check",
        "hameau.commands:check",
        "Check the database, every stored file content and the files journal; exit 1 on damage.",
    ),
    Command(
        "export",
        "hameau.commands:export",
        "Export a member's whole environment: files, calendars, contacts, notes, messages.",
    ),
    Command(
        "import",
        "hameau.commands:import_",
        "Import a member's whole environment from an archive made by `hameau export`.",
    ),
    Command(
        "serve",
        "hameau.commands:serve",
        "Serve the node's pages and APIs (HTTPS with --tls, or --cert and --key).",
    ),
    Command(
        "move-store",
        "hameau.commands:move_store",
        "Move a stopped node's database to PostgreSQL and/or its content to S3, verified, resumable.",
    ),
    Command(
        "demo",
        "hameau.commands:demo",
        "Create a demo household (four people, devices, files, notes, events) and print the"
        " logins.",
    ),
)


def commands() -> Iterator[Command]:
    """Every top-level command of the command line, in its order."""
    yield from COMMANDS
    for part in PARTS:
        yield from part.commands


def adapters() -> Iterator[tuple[Part, Adapter]]:
    """Every part with its environment adapter, in the registry's order."""
    for part in PARTS:
        yield part, Adapter(part)


# Extraction keywords that are not error classes: the marker for messages said elsewhere, and
# the phrases errors carry.
MESSAGE_MARKERS = ("N_", "Phrase")


def error_classes(root: Path | None = None) -> list[str]:
    """Every subclass of HameauError under hameau/, found by reading the sources (nothing is
    imported), so each error's sentence is extracted for translation."""
    import ast

    bases: dict[str, set[str]] = {}
    for source in sorted((root or Path(__file__).parent).rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = {ast.unparse(base).rpartition(".")[2] for base in node.bases}
                bases.setdefault(node.name, set()).update(names)
    found = {"HameauError"}
    while grown := {name for name, of in bases.items() if of & found} - found:
        found |= grown
    return sorted(found)


def keywords() -> str:
    """The message extraction's keywords (`pybabel extract -k …`), as the Makefile uses them."""
    return " ".join(f"-k {name}" for name in (*MESSAGE_MARKERS, *error_classes()))


if __name__ == "__main__":  # `python -m hameau.parts keywords`
    import sys

    if sys.argv[1:] != ["keywords"]:
        raise SystemExit("usage: python -m hameau.parts keywords")
    print(keywords())

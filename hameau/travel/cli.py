"""`hameau travel pack|sync|status|return`: a satellite's life, from the laptop."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hameau.errors import BadRequest
from hameau.node.cli import console, data_dir_option, settings_for
from hameau.node.syncing import Domain, Report
from hameau.travel import control
from hameau.travel import satellite as record
from hameau.travel.errors import SyncFailed

if TYPE_CHECKING:
    from hameau.node import datadir

# Plain click, not Typer, for a short start (Typer builds its converters with pydantic); the
# sync engine, SQLAlchemy and the HTTP client are imported by the commands that use them
# (`travel sync` on a served satellite needs none: the served process syncs, control.py).
travel_app = click.Group(
    "travel",
    help="Travel: a satellite copy of your things on a laptop, synced with home.",
    no_args_is_help=True,
)


def _record(root: Path) -> record.Satellite:
    found = record.load(root)
    if found is None:
        raise BadRequest(
            "The node in %(dir)s is not a satellite; make one with `hameau travel pack`.",
            dir=str(root),
        )
    return found


def _open(data_dir: Path | None) -> tuple[datadir.Node, record.Satellite]:
    from hameau.node import datadir

    node = datadir.open_node(settings_for(data_dir))
    try:
        return node, _record(node.layout.root)
    except BadRequest:
        node.close()
        raise


def _home_once(satellite: record.Satellite, clients: ExitStack) -> Callable[[], Any]:
    """Makes the client to home the first time it is wanted (httpx loaded then only)."""
    made: list[Any] = []

    def home() -> Any:
        if not made:
            from hameau.travel.home import Home, client_for

            made.append(Home(clients.enter_context(client_for(satellite, timeout=10))))
        return made[0]

    return home


def _syncing(context: click.Context) -> list[Domain]:
    """The domains that sync, handed down by the assembly (hameau/cli.py) in the context."""
    found = (context.obj or {}).get("syncing")
    if found is None:
        raise RuntimeError("the command line was not assembled with the syncing domains")
    return list(found())


def _password() -> str:
    given = os.environ.get("HAMEAU_PASSWORD")
    if given:
        return given
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password at home", hide_input=True))


def _print_report(report: Report, heading: str) -> None:
    for line in control.report_lines(report, heading):
        console.print(line)


@travel_app.command("pack")
@click.option(
    "--from", "home", required=True,
    help="The home node's address, e.g. http://maison.local:8080.",
)  # fmt: skip
@click.option("--member", required=True, help="Your login name at home.")
@click.option(
    "--take", required=True, multiple=True,
    help="What to take (repeat): files:mine/FOLDER, files:household/FOLDER, notes, calendar:agenda, calendar:household.",
)  # fmt: skip
@click.option("--name", default="", help="The satellite's name in your devices at home.")
@data_dir_option
@click.pass_context
def pack(
    context: click.Context, home: str, member: str, take: tuple[str, ...], name: str,
    data_dir: Path | None,
) -> None:  # fmt: skip
    """Make this laptop a satellite of your home node, holding what you take (password asked,
    or read from $HAMEAU_PASSWORD / standard input)."""
    from hameau.travel import lifecycle
    from hameau.travel import sync as engine
    from hameau.travel.home import http_client

    settings = settings_for(data_dir)
    label = name.strip() or f"Satellite {socket.gethostname()}"[:60]
    password = _password()
    with http_client(home) as client:
        node, satellite = lifecycle.pack(
            home, member, password, list(take), settings.data_dir, label, client
        )
        console.print(
            f"Satellite [bold]{satellite.device_name}[/bold] made in {node.layout.root};"
            " copying what you took…"
        )
        try:
            report = engine.sync(node, satellite, client, domains=_syncing(context))
        finally:
            node.close()
    _print_report(report, "Packed")
    console.print(
        f"Serve it with: hameau serve --data-dir {settings.data_dir}"
        "  (works offline; `hameau travel sync` when home is reachable)"
    )
    if not report.complete:
        raise SyncFailed(
            "The satellite is made but not everything was copied (%(count)s problem(s), listed"
            " above); fix them and run `hameau travel sync --data-dir %(dir)s`.",
            count=len(report.problems),
            dir=str(settings.data_dir),
        )


@travel_app.command("sync")
@data_dir_option
@click.pass_context
def sync_command(context: click.Context, data_dir: Path | None) -> None:
    """Two-way sync with home; safe to stop and run again at any point. On a satellite that is
    served (`hameau serve`), the served process syncs and this prints its outcome."""
    report = control.ask(settings_for(data_dir).data_dir)
    if report is None:  # no satellite served there: sync in this process
        report = _sync_here(context, data_dir)
    _print_report(report, "Synced")
    if not report.complete:
        raise control.not_complete(report)


def _sync_here(context: click.Context, data_dir: Path | None) -> Report:
    from hameau.travel import sync as engine
    from hameau.travel.home import client_for

    node, satellite = _open(data_dir)
    try:
        with client_for(satellite) as client:
            return engine.sync(node, satellite, client, domains=_syncing(context))
    finally:
        node.close()


@travel_app.command("status")
@data_dir_option
def status(data_dir: Path | None) -> None:
    """What changed on each side since the last sync, and the open conflicts."""
    from hameau.node.blobs import load_store
    from hameau.node.layout import Layout
    from hameau.node.reading import database
    from hameau.travel.status import status as status_of

    settings = settings_for(data_dir)
    with database(data_dir) as connection, ExitStack() as clients:
        satellite = _record(settings.data_dir)
        store = load_store(settings.blob_store, Layout.of(settings).blobs, settings)
        found = status_of(connection, store, satellite, _home_once(satellite, clients))
    console.print(
        f"Satellite [bold]{satellite.device_name}[/bold] of {satellite.home} ({satellite.member})"
    )
    console.print(f"Takes: {', '.join(satellite.takes)}")
    if satellite.home_moved:
        old, _, when = satellite.home_moved.partition(" ")
        console.print(
            f"Home moved: {old} said so at {when} (a redirect from the home this satellite"
            " trusted, asked with its credential); syncs go to the new home."
        )
    if found.moved_to:
        console.print(f"Home says your home moved to {found.moved_to}; the next sync goes there.")
    console.print(f"Last sync: {found.last_sync or 'never'}")
    if found.refusal is not None:
        console.print(f"[red]Sync refused:[/red] {found.refusal}")
    if found.last_error:
        console.print(f"Last problem: {found.last_error}")
    for space, changed in found.here.items():
        console.print(f"Changed here, not yet home ({space}): {len(changed)}")
        for path in changed[:20]:
            console.print(f"  {path}")
    if found.home is None:
        console.print("Home: cannot be reached now; local work goes on.")
    else:
        for space, changed in found.home.items():
            console.print(f"Changed at home, not yet here ({space}): {len(changed)}")
            for path in changed[:20]:
                console.print(f"  {path}")
    console.print(f"Open conflicts: {len(found.conflicts)}")
    for copy in found.conflicts:
        console.print(f"  {copy}")


@travel_app.command("return")
@data_dir_option
@click.pass_context
def return_command(context: click.Context, data_dir: Path | None) -> None:
    """Back home for good: a last sync, then this copy is wiped and its credential revoked."""
    from hameau.travel import lifecycle
    from hameau.travel.home import client_for

    node, satellite = _open(data_dir)
    with client_for(satellite) as client:
        report = lifecycle.return_home(node, satellite, client, _syncing(context))
    _print_report(report, "Last sync")
    console.print(
        f"Welcome home: the satellite's credential is revoked and {node.layout.root} is wiped."
    )

"""Commands that span the domains: serve, demo, export, import, check. They assemble the parts, so
they live here, above the domains, and not in `node` (which no domain-aware code may be
imported from)."""

from __future__ import annotations

import os
import secrets
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from hameau.node import datadir
from hameau.node.cli import console, settings_for
from hameau.node.cli_typer import DataDirOption, HostOption, PortOption
from hameau.node.db import transaction

DEMO_LOGINS = "demo-logins.txt"


TlsOption = Annotated[
    bool,
    typer.Option(
        "--tls",
        help="Serve HTTPS with the node's own certificate (peers need it).",
        show_default=False,
    ),
]
CertOption = Annotated[
    Path | None,
    typer.Option(help="Serve HTTPS with this certificate file (PEM) instead.", show_default=False),
]
KeyOption = Annotated[
    Path | None, typer.Option(help="The key file of --cert (PEM).", show_default=False)
]


def serve(
    data_dir: DataDirOption = None,
    host: HostOption = None,
    port: PortOption = None,
    tls: TlsOption = False,
    cert: CertOption = None,
    key: KeyOption = None,
) -> None:
    """Serve the node's pages and APIs (HTTPS with --tls, or --cert and --key)."""
    from hameau import serving as server

    # Usually not reached: `hameau serve` with plain options goes to the server before this
    # command line loads (hameau/__main__.py). Here when opening the node failed there.
    settings = settings_for(
        data_dir, host=host, port=port, tls=tls or None,
        tls_cert=cert and str(cert), tls_key=key and str(key),
    )  # fmt: skip
    server.run(datadir.open_node(settings))


def _demo_household(node: datadir.Node) -> list[tuple[str, str, str]]:
    from hameau import demo as demo_content
    from hameau.accounts import devices, members
    from hameau.footprint import inventory

    people = [
        ("camille", "Camille", True),
        ("alex", "Alex", False),
        ("sam", "Sam", False),
        ("louise", "Louise", False),
    ]
    quota = node.settings.default_quota_mb * 1024 * 1024
    logins = []
    with transaction(node.sessions) as session:
        created = {}
        for name, display, admin in people:
            password = secrets.token_hex(5)
            created[name] = members.add_member(
                session, name, password, display_name=display, admin=admin, quota_bytes=quota
            )
            logins.append((name, password, "admin" if admin else "member"))
        devices.add_device(session, "Terminal de la cuisine", "terminal", True, lifetime_years=8)
        devices.add_device(session, "Portable partagé", "laptop", True, lifetime_years=6)
        devices.add_device(
            session, "Téléphone d'Alex", "phone", False, owner=created["alex"], lifetime_years=4
        )
        # The node itself: a second-hand desktop, so the footprint report has its machine.
        inventory.set_node(session, kind="desktop", acquired_on=date(2019, 3, 1), lifetime_years=10)
    demo_content.add_content(node)
    return logins


def _kitchen_link(node: datadir.Node, base: str) -> str:
    from hameau.accounts import devices

    with transaction(node.sessions) as session:
        kitchen = devices.find_device(session, "Terminal de la cuisine")
        return f"{base}/devices/enrol?code={devices.create_enrol_code(kitchen)}"


def demo(data_dir: DataDirOption = None, host: HostOption = None, port: PortOption = None) -> None:
    """Create a demo household (four people, devices, files, notes, events) and print the logins."""
    settings = settings_for(data_dir, host=host, port=port)
    logins_file = settings.data_dir / DEMO_LOGINS
    layout = datadir.Layout.of(settings)
    if datadir.exists(layout):
        if not logins_file.exists():
            raise typer.BadParameter(
                f"{settings.data_dir} holds a node that is not a demo; give another --data-dir."
            )
        node = datadir.open_node(settings)
        console.print(f"Demo household already in {settings.data_dir}.")
    else:
        node = datadir.init_node(settings, "Maison démo")
        logins = _demo_household(node)
        lines = [f"{name}\t{password}\t{role}" for name, password, role in logins]
        descriptor = os.open(logins_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        console.print(f"Demo household created in {settings.data_dir}.")
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"\nLog in at [bold]{base}[/bold] as one of (name, password, role):")
    for line in logins_file.read_text().splitlines():
        name, password, role = line.split("\t")
        console.print(f"  {name:<10} {password:<12} {role}")
    console.print(
        "\nTo try the shared kitchen terminal's “who is it?” picker, open this one-time "
        f"link in a browser:\n  {_kitchen_link(node, base)}"
    )
    node.close()


def export(
    member: Annotated[str, typer.Argument(help="The member whose environment to export.")],
    out: Annotated[Path, typer.Option("--out", help="The archive to write (.zip).")],
    data_dir: DataDirOption = None,
) -> None:
    """Export a member's whole environment: files, calendars, contacts, notes, messages."""
    from hameau.accounts import members
    from hameau.export import export_member

    if out.exists():
        raise typer.BadParameter(f"{out} exists already; give another --out.")
    node = datadir.open_node(settings_for(data_dir))
    try:
        with transaction(node.sessions) as session:
            member_id = members.find_member(session, member).id
        manifest = export_member(node, member_id, out)
    finally:
        node.close()
    console.print(f"Exported {len(manifest['entries'])} item(s) of {member} to {out}.")


def _weight(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1_000_000 else f"{max(1, round(size / 1e3))} kB"


def import_(
    archive: Annotated[Path, typer.Argument(help="An archive made by `hameau export` (.zip).")],
    as_name: Annotated[
        str | None, typer.Option("--as", help="The member's name here, if not the archive's.")
    ] = None,
    quota_mb: Annotated[
        int | None,
        typer.Option(min=0, help="The member's storage quota here in MB (else the default)."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Import a member's whole environment from an archive made by `hameau export`."""
    from hameau.export import import_member

    if not archive.is_file():
        raise typer.BadParameter(f"{archive} is not a file; give the archive `hameau export` made.")
    node = datadir.open_node(settings_for(data_dir))
    try:
        done = import_member(node, archive, as_name, quota_mb)
    finally:
        node.close()
    console.print(
        f"Imported {done.member}'s environment from {done.origin}: {done.entries} item(s),"
        f" {_weight(done.usage.bytes)} in {done.usage.rows} row(s) here."
    )
    for line in done.notes:
        console.print(line)
    if done.made:
        console.print(
            f"{done.member} is a member here now and logs in with the password they had at"
            f" {done.origin}; their app passwords work here too."
        )


def check(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Move damaged content to the quarantine and set sizes and the files journal"
            " to what the store holds.",
        ),
    ] = False,
    purge_quarantine: Annotated[
        bool,
        typer.Option("--purge-quarantine", help="Delete what the quarantine holds, first."),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Check the database, every stored file content and the files journal; exit 1 on damage."""
    from hameau.files.check import run_check

    settings = settings_for(data_dir)
    layout = datadir.Layout.of(settings)
    if not datadir.exists(layout):
        datadir.open_node(settings)  # raises the usual "No node in …; create one" error
    report = run_check(settings, repair=repair, purge_quarantine=purge_quarantine)
    for line in report.lines():
        console.print(line)
    if not report.sound:
        console.print(
            "Run `hameau check --repair` to quarantine damaged content; restore the files it"
            " names from their earlier versions."
            if not repair
            else "Restore the files named above from their earlier versions, or delete them."
        )
        sys.exit(1)  # not typer.Exit: its code must reach the shell whatever the entry point


def move_store(
    database: Annotated[
        str, typer.Option("--database", help="The PostgreSQL database to move to (empty).")
    ] = "",
    blobs: Annotated[
        str,
        typer.Option("--blobs", help="The S3 store to move the content to: s3://bucket/prefix."),
    ] = "",
    s3_endpoint: Annotated[str | None, typer.Option(help="The S3 store's address.")] = None,
    s3_region: Annotated[str | None, typer.Option(help="The S3 store's region.")] = None,
    s3_access_key: Annotated[
        str | None, typer.Option(help="The S3 access key (the secret: HAMEAU_S3_SECRET_KEY).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Rows per transaction.", min=1)] = 500,
    data_dir: DataDirOption = None,
) -> None:
    """Move a stopped node's database to PostgreSQL and/or its content to S3, verified, resumable."""
    from sqlalchemy.exc import SQLAlchemyError

    from hameau.errors import HameauError
    from hameau.models import metadata
    from hameau.node import move_store as moving
    from hameau.node.blobs import BlobError

    settings = settings_for(data_dir)
    try:
        target = moving.target_for(settings, database, blobs, s3_endpoint, s3_region, s3_access_key)
    except ValueError as error:
        _fail(str(error))
    with moving.holding(settings.data_dir, exclusive=True) as taken:
        if not taken:
            _fail(
                "The node is being served: stop every `hameau serve` of this data dir, then run move-store again."
            )
        if moving.finished(settings.data_dir, target):
            console.print("This move is done already: the node's settings name the new engines.")
            return
        node = datadir.open_node(settings)
        try:
            moving.Move(node, target, metadata(), _search_copier, batch, console.print).run()
        except (moving.MoveRefused, HameauError, BlobError, SQLAlchemyError, OSError) as error:
            _fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
        finally:
            node.close()
    console.print(
        "Moved: hameau.toml names the new engines; start `hameau serve`. The old database and"
        " content are left as they were: delete them once you have checked the node."
    )


def _search_copier(connection: Any, rows: list[dict[str, Any]]) -> None:
    """The search index's rows written by the search's own code on the new database."""
    from sqlalchemy.orm import Session

    from hameau.search import index

    with Session(bind=connection) as session:
        for row in rows:
            index.put(session, row["kind"], row["ref"], row["owner_id"], row["title"], row["body"])
        session.flush()


def _fail(line: str) -> NoReturn:
    console.print(line)
    sys.exit(1)

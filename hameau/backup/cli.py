"""`hameau backup`: set up a target, back up now, see the runs, restore after losing the disk,
show the recovery sheet again; and the space this node offers its paired peers for theirs
(offer, offers, withdraw)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from hameau.errors import BadRequest
from hameau.node.cli import console, data_dir_option, node_session, settings_for


def _quiet() -> None:
    """restic's own words go to the served node's log; a command says one sentence."""
    logging.getLogger("hameau.backup").addHandler(logging.NullHandler())


# Plain click, not Typer, for a short start (as the accounts' commands).
backup_app = click.Group(
    "backup",
    help="Backups: to a folder (a USB disk) or a neighbour's node; restore after losing the disk.",
    no_args_is_help=True,
    callback=_quiet,
)


def _open(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from hameau.node import datadir

    return datadir.open_node(settings_for(data_dir))


def _size(count: int | None) -> str:
    if count is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000  # type: ignore[assignment]
    return str(count)


def _show_sheet(text: str) -> None:
    click.echo("\n" + "=" * 72)
    click.echo(text.rstrip())
    click.echo("=" * 72)
    click.echo(
        "Print this recovery sheet or copy it somewhere safe that is not this home server;"
        " it is not shown again (but with `hameau backup sheet --show-again`)."
    )


@backup_app.command("setup")
@click.argument("target")
@data_dir_option
def backup_setup(target: str, data_dir: Path | None) -> None:
    """Set up a backup target: a folder's absolute path (a USB disk's) or peer:NAME."""
    from hameau.backup import service

    node = _open(data_dir)
    try:
        done = service.setup(node, target)
        if done.sheet is not None:
            _show_sheet(done.sheet)
            service.mark_sheet_shown(node)
    finally:
        node.close()
    console.print(f"Backups will go to {done.label}.")
    if done.sheet is None:
        click.echo("Add this target to the household's recovery sheet:\n" + done.added)


@backup_app.command("now")
@click.argument("target", required=False)
@data_dir_option
def backup_now(target: str | None, data_dir: Path | None) -> None:
    """Back up now, to TARGET or to every target set up."""
    from hameau.backup import service
    from hameau.backup.models import BackupRun

    node = _open(data_dir)
    try:
        done = service.back_up_all(node, target)
        if service.key.has_key(node.layout) and not service.sheet_shown(node):
            with node.sessions() as session:
                _show_sheet(service.recovery_sheet(node, session))
            service.mark_sheet_shown(node)
    finally:
        node.close()
    failed = False
    for spec, result in done:
        if isinstance(result, BackupRun):
            console.print(
                f"Backed up to {spec}: snapshot {result.snapshot_id}, {result.files} files,"
                f" {_size(result.total_bytes)} ({_size(result.bytes_added)} new)."
            )
        else:
            failed = True
            print(f"Error: backup to {spec} failed: {result}", file=sys.stderr)
    if failed:
        sys.exit(1)


@backup_app.command("status")
@data_dir_option
def backup_status(data_dir: Path | None) -> None:
    """The targets, the last backups and how they ended."""
    from hameau.backup import service

    with node_session(data_dir) as (node, session):
        specs = service.specs(session, node)
        runs = service.last_runs(session)
        late = service.too_old(node, session)
        good = service.last_good(session)
        lines = [f"Targets: {', '.join(specs) if specs else 'none (see `hameau backup setup`)'}"]
        if good is not None and good.finished_at is not None:
            lines.append(
                f"Last good backup: {good.finished_at:%Y-%m-%d %H:%M} UTC to {good.target},"
                f" {_size(good.total_bytes)}."
            )
        if late:
            lines.append(
                f"Warning: no good backup for more than {node.settings.backup_warn_days:g} days."
            )
        for run in runs:
            error = service.said(run)
            lines.append(
                f"  {run.started_at:%Y-%m-%d %H:%M}  {run.outcome:<11} {run.target}"
                f"  {run.snapshot_id or ''}  {_size(run.total_bytes) if run.total_bytes else ''}"
                + (f"  {error}" if error else "")
            )
    for line in lines:
        console.print(line)


@backup_app.command("sheet")
@click.option("--show-again", is_flag=True, help="Yes: print the recovery sheet again.")
@data_dir_option
def backup_sheet(show_again: bool, data_dir: Path | None) -> None:
    """Print the household's recovery sheet again (it holds the backup password)."""
    from hameau.backup import service

    if not show_again:
        raise BadRequest(
            "The recovery sheet holds the backup password and the home server's key; to print it"
            " again, run `hameau backup sheet --show-again`."
        )
    with node_session(data_dir) as (node, session):
        if not service.key.has_key(node.layout):
            raise BadRequest(service.NO_TARGET)
        text = service.recovery_sheet(node, session)
    click.echo(text)


def _read_sheet(path: Path | None):  # type: ignore[no-untyped-def]
    from hameau.backup import sheet

    if path is not None:
        try:
            return sheet.parse(path.read_text())
        except OSError as error:
            raise BadRequest(
                "The recovery sheet %(path)s cannot be read; give its path.", path=str(path)
            ) from error
    if sys.stdin.isatty():
        password = click.prompt("Backup password (from the recovery sheet)", hide_input=True)
    else:
        password = sys.stdin.readline().strip()
    return sheet.Sheet(password)


@backup_app.command("restore")
@click.option("--from", "source", required=True, help="The target: a folder's path or peer:NAME.")
@click.option("--data-dir", type=click.Path(path_type=Path), required=True,
              help="The new data dir, a new or empty folder.")  # fmt: skip
@click.option("--sheet", "sheet_file", type=click.Path(path_type=Path), default=None,
              help="The recovery sheet (a text file); else the password is asked for.")  # fmt: skip
@click.option("--database", default=None,
              help="A node on PostgreSQL: the empty database to restore into (its URL).")  # fmt: skip
@click.option("--blobs", default=None,
              help="Where the content goes: local (the data dir's disk) or s3://bucket/prefix"
              " (with the s3_* settings); by default where the lost node kept it.")  # fmt: skip
def backup_restore(
    source: str, data_dir: Path, sheet_file: Path | None, database: str | None,
    blobs: str | None,
) -> None:  # fmt: skip
    """Restore the latest backup into a new, empty data dir (after losing the disk)."""
    from hameau.backup import restore

    done = restore.restore(source, data_dir, _read_sheet(sheet_file), database, blobs)
    console.print(f"{done.contents} contents put back in {done.store}, each hash verified.")
    minutes = done.lost_minutes()
    console.print(
        f"Restored the backup of {done.taken_at:%Y-%m-%d %H:%M} UTC; what was written after it"
        f" ({minutes} minutes) is not in it."
    )
    console.print(
        f"Next: `hameau check --data-dir {done.data_dir}`, then"
        f" `hameau serve --data-dir {done.data_dir}`."
    )


# ------------------------------------------------------------ the neighbour's side


@backup_app.command("offer")
@click.argument("peer")
@click.option("--quota", required=True, help="The space offered, e.g. 20G, 500M, 1T.")
@data_dir_option
def offer(peer: str, quota: str, data_dir: Path | None) -> None:
    """Offer a paired home server space for its backups (or change how much)."""
    from hameau.backup import offers
    from hameau.hamlet import service

    size = offers.parse_size(quota)
    with node_session(data_dir) as (_node, db):
        found = service.find(db, peer)
        offers.offer(db, found, size)
        name = found.name
    console.print(
        f"[bold]{name}[/bold] may keep up to {offers.human(size)} of backups here; they are"
        " encrypted with its own key, which this home server never sees."
    )


@backup_app.command("offers")
@data_dir_option
def list_offers(data_dir: Path | None) -> None:
    """List the space this node offers its peers, and what each uses."""
    from rich.table import Table

    from hameau.backup import offers
    from hameau.hamlet import service

    table = Table("peer", "quota", "used", "state", "last snapshot")
    with node_session(data_dir) as (node, db):
        names = {peer.node_id: peer.name for peer in service.peers(db)}
        for each in offers.offered(node, db, names):
            state = f"withdrawn {each.withdrawn_at:%Y-%m-%d}" if each.withdrawn_at else "offered"
            last = f"{each.last_snapshot_at:%Y-%m-%d %H:%M}" if each.last_snapshot_at else "never"
            table.add_row(each.peer, offers.human(each.quota), offers.human(each.used), state, last)
    console.print(table)


@backup_app.command("withdraw")
@click.argument("peer")
@click.option(
    "--delete-data", is_flag=True,
    help="Also delete what the peer stored here (its backups are gone for good).",
)  # fmt: skip
@data_dir_option
def withdraw(peer: str, delete_data: bool, data_dir: Path | None) -> None:
    """Stop taking a peer's backups; what it stored stays until deleted with --delete-data."""
    from hameau.backup import offers
    from hameau.hamlet import service

    with node_session(data_dir) as (node, db):
        found = service.find(db, peer)
        name = found.name
        record = offers.offer_of(db, found.node_id)
        if record is None or record.withdrawn_at is None or not delete_data:
            offers.withdraw(db, found)
        if delete_data:
            db.flush()
            freed = offers.delete_data(node, db, found)
            console.print(f"Withdrawn; {offers.human(freed)} of {name}'s backups deleted.")
            return
    console.print(
        f"[bold]{name}[/bold] can no longer store backups here. What it stored stays (it can"
        f" still restore from it) until you delete it: hameau backup withdraw {name}"
        " --delete-data"
    )

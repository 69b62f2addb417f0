"""`hameau backup …`: this node's backups, and the space it offers its paired peers for theirs.

This file holds the neighbour's side (offer, offers, withdraw); the commands of the backup
itself (now, status, restore) join the same group (see the mark below)."""

from __future__ import annotations

from pathlib import Path

import click

from hameau.backup import offers
from hameau.hamlet import service
from hameau.node.cli import console, data_dir_option, node_session

# Plain click, not Typer, for a short start (Typer builds its converters with pydantic).
backup_app = click.Group(
    "backup",
    help="Backups: this node's, at a neighbour's; the space this node offers its peers.",
    no_args_is_help=True,
)


# ------------------------------------------------------------ the neighbour's side


@backup_app.command("offer")
@click.argument("peer")
@click.option("--quota", required=True, help="The space offered, e.g. 20G, 500M, 1T.")
@data_dir_option
def offer(peer: str, quota: str, data_dir: Path | None) -> None:
    """Offer a paired home server space for its backups (or change how much)."""
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


# ------------------------------------------------------------ this node's backups
# (backup-run's commands: now, status, restore)

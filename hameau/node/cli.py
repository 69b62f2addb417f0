"""`hameau init`, and what the commands share: `--data-dir`, the console, an opened node."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from hameau.config import Settings, load_settings

if TYPE_CHECKING:  # the ORM is imported by the commands that open a node through it
    from sqlalchemy.orm import Session

    from hameau.node import datadir

console = Console(highlight=False, soft_wrap=True)

DATA_DIR_HELP = "The node's data dir (default: $HAMEAU_DATA, else ~/.local/share/hameau)."
# `--data-dir`, on every command that opens a node; the commands are plain click, which
# starts faster than Typer (it builds each option's converter with pydantic).
data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP
)


def settings_for(data_dir: Path | None, **overrides: object) -> Settings:
    return load_settings(data_dir).with_overrides(**overrides)


@contextmanager
def node_session(data_dir: Path | None) -> Iterator[tuple[datadir.Node, Session]]:
    """An opened node and a database transaction, both closed on the way out."""
    from hameau.node import datadir
    from hameau.node.db import transaction

    node = datadir.open_node(settings_for(data_dir))
    try:
        with transaction(node.sessions) as session:
            yield node, session
    finally:
        node.close()


@click.command("init")
@click.option("--name", required=True, help="The node's name, e.g. the household's.")
@data_dir_option
def init(name: str, data_dir: Path | None) -> None:
    """Create a node: identity key, database, blob store."""
    from hameau.node import datadir

    settings = settings_for(data_dir)
    try:
        node = datadir.init_node(settings, name)
    except datadir.NodeExists as exists:
        console.print(str(exists))
        return
    console.print(f"Node [bold]{node.name}[/bold] created in {settings.data_dir}")
    console.print(f"Node id: {node.identity.node_id}")
    console.print("Next: [bold]hameau serve[/bold], then open the address it prints.")
    node.close()

"""The node's common options as Typer annotations, for the commands still written with Typer
(serve, demo, export, import, check, ai); the short commands use click (hameau/node/cli.py),
which starts faster: Typer builds each option's converter with pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hameau.node.cli import DATA_DIR_HELP

DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP, show_default=False)
]
HostOption = Annotated[str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on [default: 8080].")]

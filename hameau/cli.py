"""The `hameau` command: assembled from each domain's commands.

Every failure a user can cause ends in one line on stderr saying what to do, and a
non-zero exit code; the detail, if any, goes to the log.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from hameau import commands, trips
from hameau.accounts import cli as accounts_cli
from hameau.ai import cli as ai_cli
from hameau.config import ConfigError
from hameau.errors import HameauError
from hameau.node import cli as node_cli
from hameau.node.datadir import NodeExists, NodeMissing
from hameau.node.identity import IdentityError
from hameau.travel import cli as travel_cli

app = typer.Typer(
    name="hameau",
    help="A hamlet of household servers: run your household's node.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
node_cli.register(app)
commands.register(app)
accounts_cli.register(app)
travel_cli.register(app)
ai_cli.register(app)

USER_ERRORS = (HameauError, ConfigError, NodeMissing, NodeExists, IdentityError, ValueError)


def _usage(error: Any) -> str:
    """Click's message, and where to read how the command is used ("" when the help was
    just shown instead)."""
    message = error.format_message().strip().rstrip(".")
    context = getattr(error, "ctx", None)
    if not message or context is None:
        return message
    words: list[str] = []
    while context.parent is not None:  # the root's name is how Python was started
        words.insert(0, context.info_name)
        context = context.parent
    return f"{message}. See `{' '.join(['hameau', *words, '--help'])}`."


def main() -> None:
    try:
        # A command's `typer.Exit(n)` comes back as n; the context hands travel the syncing
        # domains (travel does not import the registry).
        code = app(standalone_mode=False, obj={"syncing": trips.domains})
    except USER_ERRORS as error:
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(1)
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        sys.exit(1)
    except OSError as error:  # a folder that cannot be made, a disk that is full …
        where = f" ({error.filename})" if error.filename else ""
        print(f"Error: {error.strerror or error}{where}.", file=sys.stderr)
        sys.exit(1)
    except Exception as error:  # click's usage errors (Typer carries its own click), one line too
        code = getattr(error, "exit_code", None)
        if hasattr(error, "format_message") and isinstance(code, int):
            if said := _usage(error):
                print(f"Error: {said}", file=sys.stderr)
            sys.exit(code)
        raise
    if isinstance(code, int) and code != 0:
        sys.exit(code)

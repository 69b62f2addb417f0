"""`python -m hameau` (and the `hameau` command): `serve` goes straight to the server, so
Python starts once and Typer and Rich never load in the server's memory; every other
command, and `serve --help` or a mistake, goes to the full command line."""

from __future__ import annotations

import sys


def main() -> int | None:
    args = sys.argv[1:]
    if args[:1] == ["serve"]:
        from hameau.serving import command_line

        if command_line(args[1:]):
            return 0
    from hameau.cli import main as full_command_line

    return full_command_line()  # type: ignore[func-returns-value]


if __name__ == "__main__":
    sys.exit(main())

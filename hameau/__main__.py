"""`python -m hameau` (and the `hameau` command): `serve` goes straight to the server, so
Python starts once and Typer and Rich never load in the server's memory; `travel sync` on a
served satellite straight to it (travel/control.py); every other command, and `serve --help`
or a mistake, goes to the full command line."""

from __future__ import annotations

import sys


def main() -> int | None:
    args = sys.argv[1:]
    if args[:1] == ["serve"]:
        from hameau.serving import command_line

        if command_line(args[1:]):
            return 0
    if args[:2] == ["travel", "sync"]:  # a served satellite syncs: no click, Rich or settings
        from hameau.travel.control import command_line as served_sync

        if (code := served_sync(args[2:])) is not None:
            return code
    from hameau.cli import main as full_command_line

    return full_command_line()  # type: ignore[func-returns-value]


if __name__ == "__main__":
    sys.exit(main())

"""The `hameau` command: its top-level commands come from the registry of parts.

A command's module is imported only when that command runs, so `hameau member list` loads
the accounts' commands and not travel's or the AI's; the list of commands and `--help` are
read from the registry, importing none of them.

Every failure a user can cause ends in one line on stderr saying what to do, and a
non-zero exit code; the detail, if any, goes to the log.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from hameau.parts import Command, commands, load

HELP = "A hamlet of household servers: run your household's node."
# The errors a user can cause, by "module:class": a class is looked up only if its module was
# loaded (it cannot have been raised otherwise), so naming one imports nothing.
USER_ERRORS = (
    "hameau.errors:HameauError",
    "hameau.config:ConfigError",
    "hameau.node.datadir:NodeMissing",
    "hameau.node.datadir:NodeExists",
    "hameau.node.identity:IdentityError",
    "builtins:ValueError",
)


def _typer_command(entry: Command, target: Any) -> Any:
    """Typer's click command of a function or a Typer app (Typer imported only here)."""
    import typer

    if isinstance(target, typer.Typer):  # a group of commands
        return typer.main.get_group(target)
    single = typer.Typer(add_completion=False)  # one command: a function
    single.command(entry.name)(target)
    return typer.main.get_command(single)


class Forwarded(click.Command):
    """A command written with Typer, run on the rest of the command line: Typer carries its own
    copy of click, so its commands cannot join this click group directly."""

    def __init__(self, name: str, command: Any) -> None:
        settings = {"ignore_unknown_options": True, "allow_extra_args": True}
        super().__init__(name, context_settings=settings, add_help_option=False, help=command.help)
        self.command = command

    def invoke(self, ctx: click.Context) -> Any:
        from typer import Abort

        try:  # `typer.Exit(n)` comes back as n
            code = self.command.main(
                args=ctx.args, prog_name=f"hameau {self.name}", standalone_mode=False, obj=ctx.obj
            )
        except Abort:
            raise click.Abort() from None
        if isinstance(code, int) and code != 0:
            ctx.exit(code)


def _command(entry: Command) -> Any:
    """The click command of a registry entry, its module imported now."""
    target = load(entry.target)
    if isinstance(target, click.Command):  # the short commands, in plain click
        command: Any = target
    else:
        command = Forwarded(entry.name, _typer_command(entry, target))
    command.name = entry.name
    return command


class LazyGroup(click.Group):
    """A group whose commands are registry entries, each built when it runs."""

    def __init__(self, entries: list[Command], **attrs: Any) -> None:
        self.entries = {entry.name: entry for entry in entries}
        # Placeholders by name and help, for the list of commands, `--help` and suggestions.
        stubs: dict[str, Any] = {e.name: click.Command(e.name, help=e.help) for e in entries}
        super().__init__(commands=stubs, **attrs)
        self.listing = False
        self.built: set[str] = set()

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = self.entries.get(cmd_name)
        if entry is None or self.listing:
            return self.commands.get(cmd_name)
        if cmd_name not in self.built:
            self.commands[cmd_name] = _command(entry)
            self.built.add(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True  # the commands' names and help, from the registry
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = LazyGroup(list(commands()), name="hameau", help=HELP, no_args_is_help=True)


def _user_error(error: BaseException) -> bool:
    for reference in USER_ERRORS:
        module, _, name = reference.partition(":")
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(error, getattr(loaded, name)):
            return True
    return False


def _usage(error: Any) -> str:
    """Click's message, and where to read how the command is used ("" when the help was
    just shown instead)."""
    message = error.format_message().strip().rstrip(".")
    context = getattr(error, "ctx", None)
    if not message or context is None:
        return message
    words: list[str] = []
    while context.parent is not None:
        words.insert(0, context.info_name)
        context = context.parent
    # The root's name is how Python was started, or "hameau NAME" for a command in Typer.
    root = context.info_name if str(context.info_name).startswith("hameau ") else "hameau"
    return f"{message}. See `{' '.join([root, *words, '--help'])}`."


def _syncing() -> Any:
    """The registry's syncing domains, read only by the commands that sync."""
    from hameau import trips

    return trips.domains()


def _environment() -> Any:
    """Export and import by reference, for moving home (a part: it does not import these)."""
    from hameau import export

    return export


def main() -> None:
    try:
        # A command's `ctx.exit(n)` comes back as n; the context hands travel the syncing
        # domains (travel does not import the registry).
        code = app.main(
            standalone_mode=False, obj={"syncing": _syncing, "environment": _environment}
        )
    except click.Abort as aborted:
        if isinstance(aborted.__cause__, KeyboardInterrupt):
            sys.exit(130)  # Ctrl-C: the shell's usual code, nothing said
        print("Aborted.", file=sys.stderr)
        sys.exit(1)
    except OSError as error:  # a folder that cannot be made, a disk that is full …
        where = f" ({error.filename})" if error.filename else ""
        print(f"Error: {error.strerror or error}{where}.", file=sys.stderr)
        sys.exit(1)
    except click.exceptions.NoArgsIsHelpError as shown:  # a bare group: its help, as --help
        click.echo(shown.format_message())
        sys.exit(shown.exit_code)
    except Exception as error:  # click's usage errors, one line too
        if _user_error(error):
            print(f"Error: {error}", file=sys.stderr)
            sys.exit(1)
        code = getattr(error, "exit_code", None)
        if hasattr(error, "format_message") and isinstance(code, int):
            if said := _usage(error):
                print(f"Error: {said}", file=sys.stderr)
            sys.exit(code)
        raise
    if isinstance(code, int) and code != 0:
        sys.exit(code)

"""`hameau travel sync` on a served satellite: the served process syncs, the command asks it.

A served satellite (`hameau serve` on the laptop) has SQLAlchemy, the models and its HTTP
client loaded already and syncs by itself (autosync.py); a command that loaded them all again
spent four times the sync's own time starting (docs/benchmarks.md, "Re-sync of 1 %"). So the
served process listens on a Unix socket in its data dir, `control.sock`, and the command,
finding it, asks it to sync now and prints its outcome; with no satellite served (no socket,
or nobody behind it) the command syncs in its own process as before.

Only the same user can ask: the data dir is theirs alone (0700), the socket 0600, and each
side checks the other's user id from the kernel (SO_PEERCRED) before a word is read. Where
the system has no SO_PEERCRED, no socket is opened. Nothing secret crosses it: a request
`{"do": "sync"}`, an answer `{"report": {...}}` or `{"error": "one sentence"}`, one JSON
line each. A sync already running is waited for, then one more runs (the member's change may
have come after it started).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from contextlib import suppress
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol, cast

from hameau.errors import HameauError
from hameau.node.localsock import LocalServer, address, available, peer_uid
from hameau.travel.errors import SatelliteStopped, SyncFailed

if TYPE_CHECKING:
    import asyncio

    from hameau.node.syncing import Report
    from hameau.travel.autosync import AutoSync

SOCKET = "control.sock"
REQUEST = b'{"do": "sync"}\n'
OTHER_USER = "This satellite is served by another user; only they can ask it to sync."


class Outcome(Protocol):
    """What the command prints of a sync: the engine's `Report`, or its fields as the served
    satellite sent them (read without `dataclasses`, some 9 ms of the command's start)."""

    pulled: int
    pushed: int
    bytes_in: int
    bytes_out: int
    seconds: float
    conflicts: list[str]
    problems: list[str]


# -- the command line's side (standard library only: it runs before anything heavy loads)


def ask(root: Path) -> Report | None:
    """Have the satellite served from ``root`` sync now, and its report; None if no
    satellite is served there (the command then syncs by itself)."""
    fields = _asked(root)
    if fields is None:
        return None
    from hameau.node.syncing import Report

    return Report(**fields)


def _asked(root: Path) -> dict[str, Any] | None:
    """`ask`, the report as the served satellite sent it (a dict of `Report`'s fields)."""
    path = root / SOCKET
    if not available() or not path.exists():
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with address(path) as where:
            connection.connect(where)
    except (FileNotFoundError, ConnectionRefusedError):  # left by a satellite no longer served
        connection.close()
        return None
    with connection:
        if peer_uid(connection) != os.geteuid():
            raise HameauError(OTHER_USER)
        with suppress(BrokenPipeError, ConnectionResetError):  # refused before it was read:
            connection.sendall(REQUEST)  # the refusal waits to be read below
        answer = _read_answer(connection)
    if "error" in answer:
        raise HameauError(str(answer["error"]))
    return dict(answer["report"])


def _read_answer(connection: socket.socket) -> dict[str, Any]:
    """The one JSON line the served satellite answers, read to its end."""
    received = bytearray()
    while not received.endswith(b"\n"):
        try:
            chunk = connection.recv(65536)
        except ConnectionError:
            chunk = b""
        if not chunk:
            raise SatelliteStopped(
                "The served satellite stopped before its sync ended; run `hameau travel sync`"
                " again (it syncs here by itself when no satellite is served)."
            )
        received += chunk
    return dict(json.loads(received))


def command_line(args: list[str]) -> int | None:
    """`hameau travel sync [--data-dir DIR]` answered by a served satellite, before click, Rich
    and the settings load (hameau/__main__.py): its exit code, or None when no satellite is
    served there or the arguments are anything else (the full command line then runs)."""
    given = args[1] if len(args) == 2 and args[0] == "--data-dir" else None
    if len(args) == 1 and args[0].startswith("--data-dir="):
        given = args[0].partition("=")[2]
    if args and not given:
        return None
    try:
        fields = _asked(data_dir(given))
        if fields is None:
            return None
        report = cast("Outcome", SimpleNamespace(**fields))
        print_report(report, "Synced")
        if report.problems:
            raise not_complete(report)
    except HameauError as error:  # as hameau/cli.py says a user's error: one line, exit 1
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


def data_dir(given: str | None) -> Path:
    """The data dir, as `config.resolve_data_dir` finds it; a --data-dir given without
    importing the settings (their dataclass and its module: some 20 ms of the command's start)."""
    if given:
        return Path(given).expanduser().resolve()
    from hameau.config import resolve_data_dir

    return resolve_data_dir(None)


def report_lines(report: Outcome, heading: str) -> list[str]:
    """A sync's outcome as the commands print it (Rich markup in the lines after the first)."""
    lines = [
        f"{heading}: {report.pulled} change(s) brought here, {report.pushed} sent home"
        f" ({report.bytes_in / 1e6:.1f} MB in, {report.bytes_out / 1e6:.1f} MB out)"
        f" in {report.seconds:.2f} s."
    ]
    lines += [
        f"  Conflict: both sides changed it; the satellite's version is [bold]{copy}[/bold]"
        for copy in report.conflicts
    ]
    lines += [f"  [red]Not synced:[/red] {problem}" for problem in report.problems]
    return lines


def print_report(report: Outcome, heading: str) -> None:
    """Printed as by the command line's console; Rich loaded only for lines with markup."""
    lines = report_lines(report, heading)
    if len(lines) == 1:
        print(lines[0], flush=True)
        return
    from hameau.node.cli import console

    for line in lines:
        console.print(line)


def not_complete(report: Outcome) -> HameauError:
    return SyncFailed(
        "Not everything was synced (%(count)s problem(s), listed above); fix them and run"
        " `hameau travel sync` again.",
        count=len(report.problems),
    )


# -- the served satellite's side


class ControlServer(LocalServer):
    """The socket a served satellite listens on for `hameau travel sync`."""

    def __init__(self, root: Path, auto: AutoSync) -> None:
        super().__init__(root / SOCKET)
        self.auto = auto

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if peer_uid(writer.get_extra_info("socket")) != os.geteuid():
                answer: dict[str, Any] = {"error": OTHER_USER}
            elif (await reader.readline()) != REQUEST:
                answer = {"error": "Unknown request; this socket only syncs."}
            else:
                answer = await self._sync()
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the command went away (Ctrl-C): the sync itself went on to its end
        finally:
            writer.close()

    async def _sync(self) -> dict[str, Any]:
        try:
            report = await self.auto.requested()
        except HameauError as error:
            return {"error": str(error)}
        except Exception as error:  # logged by autosync; the command says it in one line
            return {"error": f"The served satellite failed to sync ({type(error).__name__})."}
        from dataclasses import asdict

        return {"report": asdict(report)}

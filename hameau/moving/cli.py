"""`hameau move`: a member's whole environment to a paired home, and what goes with it.

    hameau move MEMBER --to PEER     move them (run again, it goes on where it was)
    hameau move status [MEMBER]      moves known here, both ways
    hameau move accept|refuse ID     on the receiving home, when no standing rule accepts
    hameau move resume ID            go on after a cut, or once the receiver accepted
    hameau move rollback MEMBER      back to the home they came from, within the window

Run by an admin of the member's home, the command stands for the member's consent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from hameau.node.cli import console, data_dir_option, settings_for
from hameau.node.datadir import Node


class MoveGroup(click.Group):
    """`hameau move alice --to B` is `hameau move start alice --to B`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


move_app = MoveGroup(
    "move",
    help="Moving home: a member's whole environment to a paired home, resumable, with a rollback.",
    epilog="`hameau move MEMBER --to PEER` is `hameau move start MEMBER --to PEER`.",
    no_args_is_help=True,
)


@contextmanager
def _node(data_dir: Path | None) -> Iterator[Node]:
    from hameau.node import datadir

    node = datadir.open_node(settings_for(data_dir))
    root = click.get_current_context().find_root().obj or {}
    if "environment" in root:
        node.assembled["environment"] = root["environment"]
    try:
        yield node
    finally:
        node.close()


def _mb(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB"


def _said(node: Node, move: Any) -> None:
    """One line on where the move is; exit 1 if it ended without moving the member."""
    peer = _peer_name(node, move.peer_id)
    if move.state == "waiting":
        console.print(
            f"Move {move.move_id} of {move.member_name} to {peer} waits for {peer}'s"
            f" acceptance: an admin there runs `hameau move accept {move.move_id}`; then run"
            f" `hameau move resume {move.move_id}` here."
        )
    elif move.state == "done":
        console.print(
            f"{move.member_name} moved to {peer}: {_mb(move.bytes_sent)} sent,"
            f" {_mb(move.bytes_skipped)} already there, {move.verified} contents verified"
            f" there. Rollback until {move.rollback_until:%Y-%m-%d}: `hameau move rollback"
            f" {move.member_name}` on {peer}."
        )
    else:
        raise click.ClickException(
            f"Move {move.move_id} of {move.member_name} to {peer} is {move.state}"
            + (f": {move.error}" if move.error else ".")
        )


def _peer_name(node: Node, peer_id: int) -> str:
    from hameau.hamlet.models import HamletPeer

    with node.sessions() as session:
        peer = session.get(HamletPeer, peer_id)
        return peer.name if peer is not None else "?"


def _run(
    node: Node, move_id: str | None, started: Callable[[], Any] | None = None, member: str = ""
) -> None:
    """Resume the move (or start and run the member's: ``started``) and say where it is; a
    cut link says how to go on."""
    from hameau.hamlet.watched import PEER_ERRORS
    from hameau.moving import service

    try:
        move = started() if started is not None else service.resume(node, str(move_id))
    except PEER_ERRORS as error:
        if move_id is None:  # cut after the start: the move's row says which one
            from hameau.moving.models import OPEN

            mine = [m for m in service.moves(node, member) if m.role == "out" and m.state in OPEN]
            if not mine:
                raise
            move_id = mine[0].move_id
        answered = getattr(error, "answered", True)  # an answer whose signature is refused too
        when = (
            "what the other home answered is mended"
            if answered
            else "the other home can be reached"
        )
        raise click.ClickException(
            f"{error} The move stopped where it was: run `hameau move resume {move_id}` once"
            f" {when}."
        ) from None
    _said(node, move)


@move_app.command("start")
@click.argument("member")
@click.option("--to", "peer", required=True, help="The paired home they move to, by its name.")
@data_dir_option
def start(member: str, peer: str, data_dir: Path | None) -> None:
    """Move a member's whole environment to a paired home (run again: it goes on)."""
    from hameau.moving import service
    from hameau.moving.models import OPEN

    with _node(data_dir) as node:
        mine = [m for m in service.moves(node, member) if m.role == "out"]
        running = [m for m in mine if m.state in OPEN]
        if (
            not running
            and mine
            and mine[0].state == "done"
            and _peer_name(node, mine[0].peer_id) == peer
        ):
            _said(node, mine[0])  # done already (the command was cut after the switch)
            return
        if running:
            _run(node, running[0].move_id)
        else:
            _run(node, None, lambda: service.move(node, member, peer, by="admin"), member)


@move_app.command("resume")
@click.argument("move_id", metavar="ID")
@data_dir_option
def resume(move_id: str, data_dir: Path | None) -> None:
    """Go on with a move from where it was."""
    with _node(data_dir) as node:
        _run(node, move_id)


@move_app.command("status")
@click.argument("member", required=False)
@data_dir_option
def status(member: str | None, data_dir: Path | None) -> None:
    """The moves known here, newest first, both ways: one line each."""
    from hameau.moving import service

    with _node(data_dir) as node:
        found = service.moves(node, member)
        for move in found:
            way = "out to" if move.role == "out" else "in from"
            click.echo(
                f"{move.move_id}  {move.member_name}  {way} {_peer_name(node, move.peer_id)}"
                f"  {move.state}  by {move.by}  {move.created_at:%Y-%m-%d %H:%M}"
                f"  sent {_mb(move.bytes_sent)}, there already {_mb(move.bytes_skipped)},"
                f" {move.verified} verified" + (f"  {move.error}" if move.error else "")
            )
        if not found:
            click.echo("No move known here" + (f" for {member}." if member else "."))


@move_app.command("accept")
@click.argument("move_id", metavar="ID")
@data_dir_option
def accept(move_id: str, data_dir: Path | None) -> None:
    """Accept a member moving here (on the receiving home)."""
    from hameau.moving import service

    with _node(data_dir) as node:
        move = service.accept(node, move_id, by="admin")
        console.print(
            f"Move {move.move_id} of {move.member_name} accepted: it goes on when"
            f" {_peer_name(node, move.peer_id)} resumes it."
        )


@move_app.command("refuse")
@click.argument("move_id", metavar="ID")
@click.option("--why", default="", help="Said to the other home.")
@data_dir_option
def refuse(move_id: str, why: str, data_dir: Path | None) -> None:
    """Refuse a member moving here (on the receiving home)."""
    from hameau.moving import service

    with _node(data_dir) as node:
        move = service.refuse(node, move_id, by="admin", why=why)
        console.print(f"Move {move.move_id} of {move.member_name} refused.")


@move_app.command("rollback")
@click.argument("member")
@data_dir_option
def rollback(member: str, data_dir: Path | None) -> None:
    """Move a member back to the home they came from, within the rollback window (run at
    their current home)."""
    from hameau.moving import service
    from hameau.moving.models import OPEN

    with _node(data_dir) as node:
        running = [m for m in service.moves(node, member) if m.role == "out" and m.state in OPEN]
        move = running[0] if running else service.rollback(node, member)
        _run(node, move.move_id)

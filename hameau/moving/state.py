"""What moving home starts with the server: a move cut in its final phase (the member frozen
here) learns its outcome from the receiver once, at start, in a thread of its own, so that a
member is not left frozen until an admin runs the command again."""

from __future__ import annotations

import logging
import threading
from typing import Any

from hameau.node.datadir import Node

log = logging.getLogger("hameau.moving")


def settle(node: Node, drive: Any = None) -> None:
    """A move cut in its final phase learns its outcome; then `drive` goes on with every
    move this home was sending (a served node resumes them after a kill, with no one asking)."""
    from sqlalchemy import select

    from hameau.moving.models import OPEN, Move

    with node.sessions() as session:
        cut = list(
            session.scalars(select(Move).where(Move.role == "out", Move.state == "switching"))
        )
        session.expunge_all()
    if cut:
        _outcomes(node, cut)
    with node.sessions() as session:
        going = list(session.scalars(select(Move).where(Move.role == "out", Move.state.in_(OPEN))))
        session.expunge_all()
    for move in going if drive is not None else ():
        drive(move)


def _outcomes(node: Node, cut: list[Any]) -> None:
    from hameau.moving import steps

    for move in cut:
        try:
            found = steps.outcome(node, move)
            log.info("move %s of %s: %s", move.move_id, move.member_name, found.state)
        except Exception as error:  # the peer down: the next command or start tries again
            log.warning(
                "move %s of %s: outcome unknown (%s)", move.move_id, move.member_name, error
            )


def attach(app: Any, node: Node) -> None:
    """The "moving" part's state (hameau/parts.py): the rollback windows' one timer
    (window.py), and the outcome of a move cut in its final phase, asked once at start."""
    from hameau.moving import tiles, window
    from hameau.moving.driving import Drives

    window.attach(app, node)
    # The home page's proposal; the workers that run the moves looked at (the pages load
    # on their first request: hameau/parts.py).
    app.state.home_sections.append(tiles.home_section)
    app.state.moving_drives = Drives(node)

    def start() -> None:
        drive = app.state.moving_drives.drive
        threading.Thread(
            target=settle, args=(node, drive), name="moving-settle", daemon=True
        ).start()

    app.state.starts.append(start)

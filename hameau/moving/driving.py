"""The moves the pages run: `service.start` only records a move and offers it; `service.resume`
runs it as far as it can go (the copy, the freeze, the switch; or it returns at once while
the receiving home has not accepted yet). The pages call `drive` when a move of this home is
looked at (its report, refreshed every few seconds while it runs; "Move my home"; the admins'
page; the home page) and it resumes the move in a worker thread, one per move at a time;
a move still waiting for the other home is asked again at most every WAITING_EVERY seconds.
No timer: a waiting move also goes on when the other home says it accepted (api.py's
`accepted`), and a served node goes on at start with the moves it was sending (state.py)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)
OPEN = ("waiting", "copying", "switching")
WAITING_EVERY = 30.0


class Drives:
    """The moves being run by this process's workers, and when each was last tried; a move
    another process of the node is running is left to it (an advisory lock per move)."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.running: set[str] = set()
        self.tried: dict[str, float] = {}
        self.lock = threading.Lock()

    def drive(self, move: Any, asked: bool = False) -> bool:
        """Resume the move in a worker thread if it is this home's to run (the sender's row,
        not finished) and no worker runs it; True if one was started. `asked`: the receiver
        said it accepted, so a waiting move is asked again at once."""
        if move.role != "out" or move.state not in OPEN:
            return False
        now = time.monotonic()
        with self.lock:
            if move.move_id in self.running:
                return False
            waited = now - self.tried.get(move.move_id, -WAITING_EVERY)
            if move.state == "waiting" and waited < WAITING_EVERY and not asked:
                return False
            self.running.add(move.move_id)
            self.tried[move.move_id] = now
        worker = threading.Thread(target=self._resume, args=(move.move_id,), daemon=True)
        worker.start()
        return True

    def _resume(self, move_id: str) -> None:
        from hameau.moving import service  # the move's protocol, loaded by the first move run
        from hameau.node import once

        try:  # one worker per move across the node's processes too (PostgreSQL: node/once.py)
            once.if_free(self.node, f"move {move_id}", service.resume, self.node, move_id)
        except Exception as failure:  # the row says where it stopped; the next look goes on
            log.warning("move %s stopped for now: %s", move_id, failure)
        finally:
            with self.lock:
                self.running.discard(move_id)

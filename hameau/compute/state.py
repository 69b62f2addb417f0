"""The compute part's state in the served app: the thread that advances this node's jobs in
flight (driver.py). It looks every 5 seconds while jobs are in flight, else every
`compute_check_seconds` (60 by default: jobs submitted from the command line are seen within a
minute; a job submitted from the page wakes it at once). At start, runs this node was doing
for others when it stopped are marked lost, so their askers match them elsewhere."""

from __future__ import annotations

import logging
import threading
from typing import Any

from hameau.node.datadir import Node

log = logging.getLogger("hameau.compute")
IN_FLIGHT = 5.0  # seconds between two looks while jobs are in flight


class Driver:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.wake = threading.Event()
        self.stopping = False
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        from hameau.compute import provider

        provider.recover(self.node)
        self.thread = threading.Thread(target=self._loop, name="compute-driver", daemon=True)
        self.thread.start()

    def nudge(self) -> None:
        """A job was submitted: look now."""
        self.wake.set()

    def _loop(self) -> None:
        from hameau.compute import driver

        check = self.node.settings.compute_check_seconds
        while not self.stopping:
            try:
                busy = driver.advance_all(self.node)
            except Exception:  # the database busy, a bug: logged, tried again later
                log.exception("compute jobs could not advance")
                busy = True
            self.wake.wait(min(IN_FLIGHT, check) if busy else check)
            self.wake.clear()

    async def stop(self) -> None:
        self.stopping = True
        self.wake.set()


def attach(app: Any, node: Node) -> None:
    driver = Driver(node)
    app.state.compute = driver
    app.state.starts.append(driver.start)
    app.state.stops.append(driver.stop)

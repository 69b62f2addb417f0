"""The compute part's state in the served app: the thread that advances this node's jobs in
flight (driver.py). It looks every 5 seconds while jobs are in flight, else every
`compute_check_seconds` (60 by default); a job submitted from the page or the command line
(wake.py) wakes it at once. At start, runs this node was doing
for others when it stopped are marked lost, so their askers match them elsewhere; on
PostgreSQL each look does the same for runs another process of the node was doing when it
died, while this one serves on."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import text

from hameau.node import once
from hameau.node.datadir import Node

log = logging.getLogger("hameau.compute")
IN_FLIGHT = 5.0  # seconds between two looks while jobs are in flight
IN_FLIGHT_JOBS = (
    "SELECT 1 FROM compute_jobs WHERE state IN ('matching', 'running', 'settling') LIMIT 1"
)
# Escrows to refund once their deadline has passed: runs of ended jobs not settled here (the
# notary was out of reach), runs ended there whose asker never said the verdict.
REFUNDS = (
    "SELECT 1 FROM compute_runs r JOIN compute_jobs j ON j.id = r.job_id WHERE NOT r.settled"
    " AND r.escrow_id != '' AND j.state IN ('done', 'failed')"
    " UNION ALL SELECT 1 FROM compute_provided WHERE verdict = '' AND state != 'running'"
    " AND escrow_id != ''"
)
RUNNING = "SELECT run FROM compute_provided WHERE state = 'running'"
LOST_RUN = (
    "UPDATE compute_provided SET state = 'failed', status = 'killed', reason = :reason"
    " WHERE run = :run AND state = 'running'"
)


def recover(node: Node) -> None:
    """At start: runs this node was doing for others when the process doing them stopped are
    lost, said killed, so that their askers match them elsewhere. On PostgreSQL another
    process of the node may be doing some of them right now: those it holds the lock of
    (provider.held) are left to it; a process gone (stopped, killed) holds none."""
    from hameau.compute.provider import run_lock

    with node.engine.connect() as connection:
        running = list(connection.execute(text(RUNNING)).scalars())
    reason = "The node stopped while the job ran."
    for run in running:
        with once.once(node, run_lock(run)) as gone:
            if gone:
                with node.engine.begin() as connection:
                    connection.execute(text(LOST_RUN), {"run": run, "reason": reason})


class Driver:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.wake = threading.Event()
        self.stopping = False
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        recover(self.node)
        self.thread = threading.Thread(target=self._loop, name="compute-driver", daemon=True)
        self.thread.start()

    def nudge(self) -> None:
        """A job was submitted: look now."""
        self.wake.set()

    def _lost_elsewhere(self) -> None:
        """On PostgreSQL, the runs a process of the node that died (SIGKILL, its machine cut)
        was doing for other homes: their locks are free now, so they are said killed at this
        look, not only when some process starts. A process's own runs hold their locks on
        connections of their own, so it never says its own runs killed. On SQLite one process
        serves the data dir: only at start."""
        if not self.node.layout.on_sqlite:
            recover(self.node)

    def _in_flight(self) -> bool:
        """One small query; the jobs' machinery (peers' clients, the ledger) is imported only
        once a job is in flight, so an idle node's memory does not grow."""
        with self.node.engine.connect() as connection:
            return connection.execute(text(IN_FLIGHT_JOBS)).first() is not None

    def _advance(self) -> bool:
        from hameau.compute import driver

        return once.if_free(self.node, "compute-driver", driver.advance_all, self.node) or False

    def _refunds(self) -> None:
        """Escrows left open past their deadline, refunded (settling.py, provider.py)."""
        with self.node.engine.connect() as connection:
            if connection.execute(text(REFUNDS)).first() is None:
                return
        from hameau.compute import provider, settling

        def both(node: Node) -> None:
            settling.refunds_due(node)
            provider.refunds_due(node)

        once.if_free(self.node, "compute-refunds", both, self.node)

    def _loop(self) -> None:
        check = self.node.settings.compute_check_seconds
        while not self.stopping:
            try:
                busy = self._in_flight() and self._advance()
                self._lost_elsewhere()
                self._refunds()
            except Exception:  # the database busy, a bug: logged, tried again later
                log.exception("compute jobs could not advance")
                busy = True
            self.wake.wait(min(IN_FLIGHT, check) if busy else check)
            self.wake.clear()

    async def stop(self) -> None:
        self.stopping = True
        self.wake.set()


def attach(app: Any, node: Node) -> None:
    from hameau.compute.wake import Listener

    driver = Driver(node)
    app.state.compute = driver
    listener = Listener(node.layout.root, driver.nudge)  # `hameau compute submit` wakes it
    app.state.starts += [driver.start, listener.start]
    app.state.stops += [listener.stop, driver.stop]

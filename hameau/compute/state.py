"""The compute part's state in the served app: the thread that advances this node's jobs in
flight (driver.py). It looks every 5 seconds while jobs are in flight, else every
`compute_check_seconds` (60 by default); a job submitted from the page or the command line
(wake.py) wakes it at once. At start, runs this node was doing
for others when it stopped are marked lost, so their askers match them elsewhere; on
PostgreSQL each look does the same for runs another process of the node was doing when it
died, while this one serves on."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from sqlalchemy import Connection, text

from hameau.node import once
from hameau.node.datadir import Node

log = logging.getLogger("hameau.compute")
IN_FLIGHT = 5.0  # seconds between two looks while jobs are in flight
IN_FLIGHT_JOBS = "SELECT 1 FROM compute_jobs WHERE state IN ('matching', 'running', 'settling')"
# Escrows to refund once their deadline has passed: runs of ended jobs not settled here (the
# notary was out of reach), runs ended there whose asker never said the verdict.
REFUNDS = (
    "SELECT 1 FROM compute_runs r JOIN compute_jobs j ON j.id = r.job_id WHERE NOT r.settled"
    " AND r.escrow_id != '' AND j.state IN ('done', 'failed')"
    " UNION ALL SELECT 1 FROM compute_provided WHERE verdict = '' AND state != 'running'"
    " AND escrow_id != ''"
)
RUNNING = "SELECT run FROM compute_provided WHERE state = 'running'"
# A look, in one query (one round trip on PostgreSQL): jobs in flight, runs said running (on
# PostgreSQL, maybe by a process of the node that died), escrows to refund.
LOOK = text(f"SELECT EXISTS ({IN_FLIGHT_JOBS}), EXISTS ({RUNNING}), EXISTS ({REFUNDS})")
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
        self.connection: Connection | None = None  # on PostgreSQL, the looks' own

    def start(self) -> None:
        recover(self.node)
        self.thread = threading.Thread(target=self._loop, name="compute-driver", daemon=True)
        self.thread.start()

    def nudge(self) -> None:
        """A job was submitted: look now."""
        self.wake.set()

    def _look(self) -> tuple[bool, bool, bool]:
        """Jobs in flight, runs said running, refunds due: one small query, so an idle node
        on PostgreSQL wakes once a look, not once per round trip (a fresh connection from the
        pool costs a ping, BEGIN and ROLLBACK besides). There it runs on a connection the
        driver keeps, in autocommit; one the server dropped (a restart) is taken again at once.
        The jobs' machinery (peers' clients, the ledger) is imported only once a job is in
        flight, so an idle node's memory does not grow."""
        if self.node.layout.on_sqlite:
            with self.node.engine.connect() as connection:
                return tuple(connection.execute(LOOK).one())  # type: ignore[return-value]
        if self.connection is not None:
            try:
                return tuple(self.connection.execute(LOOK).one())  # type: ignore[return-value]
            except Exception:  # the server restarted since: once more on a fresh connection
                self._let_go()
        connection = self.node.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.connection = connection
        return tuple(connection.execute(LOOK).one())  # type: ignore[return-value]

    def _let_go(self) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            with contextlib.suppress(Exception):
                connection.close()

    def _lost_elsewhere(self) -> None:
        """On PostgreSQL, the runs a process of the node that died (SIGKILL, its machine cut)
        was doing for other homes: their locks are free now, so they are said killed at this
        look, not only when some process starts. A process's own runs hold their locks on
        connections of their own, so it never says its own runs killed. On SQLite one process
        serves the data dir: only at start."""
        if not self.node.layout.on_sqlite:
            recover(self.node)

    def _advance(self) -> bool:
        from hameau.compute import driver

        return once.if_free(self.node, "compute-driver", driver.advance_all, self.node) or False

    def _refunds(self) -> None:
        """Escrows left open past their deadline, refunded (settling.py, provider.py)."""
        from hameau.compute import provider, settling

        def both(node: Node) -> None:
            settling.refunds_due(node)
            provider.refunds_due(node)

        once.if_free(self.node, "compute-refunds", both, self.node)

    def _turn(self) -> bool:
        """One look, and what it found done; whether jobs are still in flight."""
        in_flight, running, refunds = self._look()
        busy = in_flight and self._advance()
        if running:
            self._lost_elsewhere()
        if refunds:
            self._refunds()
        return busy

    def _loop(self) -> None:
        check = self.node.settings.compute_check_seconds
        while not self.stopping:
            try:
                busy = self._turn()
            except Exception:  # the database busy, a bug: logged, tried again later
                log.exception("compute jobs could not advance")
                busy = True
            self.wake.wait(min(IN_FLIGHT, check) if busy else check)
            self.wake.clear()
        self._let_go()

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

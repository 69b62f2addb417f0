"""Settling a job through the ledger, at the submitting node (docs/compute.md, "Every state has
a timeout"). A verified job is `settling` while each run's escrow is released: the agreeing
providers paid what they earned, the rest back to the member. The ledger's notary may be out
of reach: the job is asked again at each look for `compute_settle_minutes`; past that it
fails with a sentence saying so, and its contracts, still open, are refunded once their
deadline (the job's deadline plus `compute_escrow_margin_minutes`) has passed: the ledger
refunds only from then on (`refunds_due`, at each look of the served node). A run that fails
or a job that fails while the notary is out of reach is settled the same way."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from hameau.compute import jobs, settle
from hameau.compute.models import ComputeJob, ComputeRun
from hameau.hamlet import client
from hameau.hamlet.models import HamletPeer
from hameau.ledger.escrow import EscrowError
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.node.peer import PeerFailed

log = logging.getLogger("hameau.compute")
API = "/api/hamlet/compute"


def _now() -> datetime:
    return datetime.now(UTC)


def peer_of(session: Any, node_id: str) -> HamletPeer | None:
    found = session.scalars(select(HamletPeer).where(HamletPeer.node_id == node_id)).first()
    if found is not None:
        session.expunge(found)
    return found


def update_run(node: Node, run_uid: str, values: dict[str, Any]) -> None:
    with transaction(node.sessions) as session:
        run = session.scalars(select(ComputeRun).where(ComputeRun.uid == run_uid)).one()
        for name, value in values.items():
            setattr(run, name, value)


def settle_run(node: Node, run_uid: str, cents: int) -> int:
    """Release the run's escrow: `cents` to its provider, the rest to the member (past the
    escrow's deadline, a refund). Raises what the ledger raises (its notary out of reach)."""
    with node.sessions() as session:
        run = session.scalars(select(ComputeRun).where(ComputeRun.uid == run_uid)).one()
        peer = peer_of(session, run.provider)
        escrow_id, settled = run.escrow_id, run.settled
    if settled or not escrow_id:
        return 0
    payee = settle.payee_of(peer.public_key) if peer is not None else ""
    paid = settle.pay(node, escrow_id, payee, cents if peer is not None else 0)
    update_run(node, run_uid, {"settled": True, "paid_cents": paid})
    return paid


def settle_or_leave(node: Node, run_uid: str) -> None:
    """A run that will not be paid: its escrow back to the member now, or, with the ledger
    out of reach, once the job has ended and the escrow's deadline has passed."""
    try:
        settle_run(node, run_uid, 0)
    except Exception as error:  # the notary out of reach: refunds_due settles it later
        log.info("run %s not settled yet: %s", run_uid, error)


def settle_job(node: Node, job_id: int) -> None:
    """One attempt at settling every run of a verified job (each agreeing run for what it
    earned, kept as its `paid_cents` until settled); the job ends once all are settled, or
    fails past `compute_settle_minutes`."""
    with node.sessions() as session:
        job = session.get(ComputeJob, job_id)
        assert job is not None
        owed = [(r.uid, r.paid_cents if r.state == "agreed" else 0)
                for r in jobs.runs_of(session, job) if not r.settled and r.escrow_id]  # fmt: skip
        since = job.state_at
    failure: Exception | None = None
    for uid, cents in owed:
        try:
            settle_run(node, uid, cents)
        except Exception as error:  # the notary out of reach (or refusing): asked again
            log.info("run %s not settled: %s", uid, error)
            failure = error
    if failure is None:
        _settled(node, job_id)
    elif _now() - since > timedelta(minutes=node.settings.compute_settle_minutes):
        _unsettled(node, job_id, failure)


def _settled(node: Node, job_id: int) -> None:
    with transaction(node.sessions) as session:
        job = session.get(ComputeJob, job_id)
        assert job is not None
        runs = jobs.runs_of(session, job)
        job.state = "failed" if job.reason else "done"
        job.cost_cents = sum(r.paid_cents for r in runs)
        job.state_at = job.finished_at = _now()
        verdicts = {
            r.uid: (r.state, r.paid_cents) for r in runs if r.state in ("agreed", "disagreed")
        }
    tell(node, verdicts)


def _unsettled(node: Node, job_id: int, failure: Exception) -> None:
    """Settling timed out: the job fails, its runs not settled are not paid, and their escrows
    go back to the member when their deadline has passed (refunds_due)."""
    minutes = node.settings.compute_settle_minutes
    with transaction(node.sessions) as session:
        job = session.get(ComputeJob, job_id)
        assert job is not None
        when = job.deadline_at + settle.margin(node)
        reached = isinstance(failure, EscrowError) or (
            isinstance(failure, PeerFailed) and failure.answered
        )
        why = (
            f"the ledger refused it ({str(failure)[:60]})" if reached else
            f"the ledger's notary {_notary_name(node)} could not be reached for {minutes:g} minutes"
        )  # fmt: skip
        job.reason = (
            f"Settlement failed: {why}; the providers were not paid, and the credit held for"
            f" them goes back to the member when the ledger refunds the contracts at their"
            f" deadline, {when:%Y-%m-%d %H:%M} UTC."
        )[:300]
        runs = jobs.runs_of(session, job)
        for run in runs:
            if not run.settled:
                run.paid_cents = 0
        job.state, job.outputs, job.output_hash = "failed", [], ""
        job.cost_cents = sum(r.paid_cents for r in runs)
        job.state_at = job.finished_at = _now()


def _notary_name(node: Node) -> str:
    from hameau.ledger import journal, remote

    try:
        with node.sessions() as session:
            found = journal.head(session)
            return remote.notary_peer(session, found).name if found is not None else "?"
    except Exception:  # no notary known: said as such
        return "?"


def refunds_due(node: Node) -> None:
    """Runs of ended jobs whose escrow is still open (the notary was out of reach when they
    ended): past the escrow's deadline, refunded to the member."""
    margin = settle.margin(node)
    with node.sessions() as session:
        query = (
            select(ComputeRun.uid, ComputeJob.deadline_at)
            .join(ComputeJob, ComputeJob.id == ComputeRun.job_id)
            .where(ComputeRun.settled.is_(False), ComputeRun.escrow_id != "",
                   ComputeJob.state.in_(("done", "failed")))
        )  # fmt: skip
        due = [uid for uid, deadline in session.execute(query) if _now() >= deadline + margin]
    for uid in due:
        settle_or_leave(node, uid)


def tell(node: Node, verdicts: dict[str, tuple[str, int]]) -> None:
    """Each provider learns its run's verdict and pay (best effort: the ledger says it too)."""
    for uid, (verdict, cents) in verdicts.items():
        with node.sessions() as session:
            run = session.scalars(select(ComputeRun).where(ComputeRun.uid == uid)).one()
            peer = peer_of(session, run.provider)
        if peer is None:
            continue
        try:
            with client.to_peer(node, peer) as toward:
                toward.call("POST", f"{API}/runs/{uid}/settled",
                            json={"verdict": verdict, "paid_cents": cents})  # fmt: skip
        except client.PEER_ERRORS as error:
            log.info("run %s: the verdict did not reach %s: %s", uid, peer.name, error)

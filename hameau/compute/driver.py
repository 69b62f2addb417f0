"""The submitting node's side of a job, step by step (run by the served node, state.py): ask
the paired homes, match (matching.py), open one escrow per run, send the content, start the
runs, follow them, verify their results (verify.py), fetch the verified outputs and settle
(settling.py, settle.py). No database transaction is held while a peer is asked: a provider may call this
node meanwhile (its ledger entries, when this node is the notary).

Every state has its timeout (docs/compute.md, "Every state has a timeout"): a job waits for
providers `compute_match_minutes`; a run whose provider cannot be reached for
`compute_lost_seconds` (killed, unplugged, stopped) fails and the job is matched elsewhere; a
provider that reports its run killed or vacated likewise; agreeing runs whose outputs cannot
be fetched for `compute_lost_seconds` likewise; past the job's deadline the job fails and
every escrow not paid goes back to the member; a verified job settles for at most
`compute_settle_minutes` (settling.py)."""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hameau.compute import jobs, matching, receipts, settle, verify
from hameau.compute.errors import ReceiptRefused
from hameau.compute.models import ComputeJob, ComputeRecord, ComputeRun
from hameau.compute.provider import PIECE
from hameau.compute.settling import peer_of, settle_job, settle_or_leave, tell, update_run
from hameau.hamlet import client
from hameau.hamlet import service as hamlet
from hameau.hamlet.models import HamletPeer
from hameau.node.blobs import BlobError
from hameau.node.datadir import Node
from hameau.node.db import transaction

log = logging.getLogger("hameau.compute")
API = "/api/hamlet/compute"
ACTIVE = ("matching", "running", "settling")


def _now() -> datetime:
    return datetime.now(UTC)


def active(node: Node) -> list[int]:
    with node.sessions() as session:
        query = select(ComputeJob.id).where(ComputeJob.state.in_(ACTIVE)).order_by(ComputeJob.id)
        return list(session.scalars(query))


def advance_all(node: Node) -> bool:
    """One step of every job in flight; True if some are still in flight."""
    for job_id in active(node):
        try:
            advance(node, job_id)
        except Exception:  # one job's trouble must not stop the others; the log says why
            log.exception("compute job %s could not advance", job_id)
    return bool(active(node))


def advance(node: Node, job_id: int) -> None:
    with node.sessions() as session:
        job = session.get(ComputeJob, job_id)
        assert job is not None
        if job.state not in ACTIVE:
            return
        if job.state == "settling":  # verified: its own timeout (settling.py), not the deadline
            settle_job(node, job_id)
            return
        running = [r.uid for r in jobs.runs_of(session, job) if r.state == "running"]
        late = _now() >= job.deadline_at
    if late:
        _fail(node, job_id, "The deadline passed before the job's results were verified.")
        return
    for run in running:
        _follow(node, run)
    _decide(node, job_id)


def _results(session: Any, job: ComputeJob) -> list[verify.Result]:
    return [
        verify.Result(r.uid, r.state, r.status, r.output_hash, r.fuel_used, r.price, r.escrow_cents)
        for r in jobs.runs_of(session, job)
        if r.state in ("running", "done")
    ]


def _decide(node: Node, job_id: int) -> None:
    with node.sessions() as session:
        job = session.get(ComputeJob, job_id)
        assert job is not None
        decision = verify.decide(_results(session, job), job.needed)
    if decision.verdict == "agreed":
        _conclude(node, job_id, decision)
    elif decision.verdict == "failed":
        _fail(node, job_id, "The providers' results disagree; nobody was paid.", decision.disagreed)
    elif decision.verdict == "more":
        _match(node, job_id, decision.wanted)


# Following a run ----------------------------------------------------------------------


def _follow(node: Node, run_uid: str) -> None:
    """Ask the provider how the run goes; a receipt checked against its pinned key."""
    with node.sessions() as session:
        run = session.scalars(select(ComputeRun).where(ComputeRun.uid == run_uid)).one()
        job = session.get(ComputeJob, run.job_id)
        assert job is not None
        peer = peer_of(session, run.provider)
        expected = {"job": job.uid, "run": run.uid, "provider": run.provider,
                    "module_hash": job.module, "input_hash": job.input_hash}  # fmt: skip
        seen_at = run.seen_at
    found: dict[str, Any] | None = None
    if peer is not None and peer.revoked_at is None:
        try:
            with client.to_peer(node, peer, always=True) as toward:
                found = toward.call("GET", f"{API}/runs/{run_uid}")
        except client.PEER_ERRORS as error:
            log.info("run %s at %s: %s", run_uid, peer.name, error)
    if found is None:
        lost = timedelta(seconds=node.settings.compute_lost_seconds)
        if _now() - seen_at > lost:
            _run_failed(node, run_uid, "The provider could not be reached; the job went elsewhere.")
        return
    if found["state"] == "failed":
        _run_failed(node, run_uid, found.get("reason") or "The provider stopped the job.")
        return
    values: dict[str, Any] = {"seen_at": _now()}
    if found["state"] == "done":
        try:
            receipt = receipts.check(found["receipt"], found["signature"], _key(peer), expected)
        except ReceiptRefused as refusal:
            _run_failed(node, run_uid, str(refusal), verdict="disagreed")
            return
        values.update(
            state="done", status=receipt.status, output_hash=receipt.output_hash,
            fuel_used=receipt.fuel_used, receipt=found["receipt"],
            signature=found["signature"], outputs=found["outputs"], reason=found["reason"],
            cpu_seconds=_cpu_seconds(found.get("cpu_seconds")),
        )  # fmt: skip
    update_run(node, run_uid, values)


def _cpu_seconds(given: Any) -> float:
    """The provider's CPU time as it says (unsigned, not billed: the footprint's figure)."""
    try:
        return min(max(float(given), 0.0), 1e7)
    except (TypeError, ValueError):
        return 0.0


def _key(peer: HamletPeer | None) -> Any:
    from hameau.hamlet.signing import public_key

    assert peer is not None
    return public_key(peer.public_key)


def _run_failed(node: Node, run_uid: str, reason: str, verdict: str = "failed") -> None:
    """A run that will not count: its escrow back to the member, its provider's record."""
    update_run(node, run_uid, {"state": "failed" if verdict == "failed" else "disagreed",
                                "reason": reason[:300]})  # fmt: skip
    settle_or_leave(node, run_uid)
    _record(node, run_uid, verdict)


def _record(node: Node, run_uid: str, verdict: str) -> None:
    with transaction(node.sessions) as session:
        run = session.scalars(select(ComputeRun).where(ComputeRun.uid == run_uid)).one()
        row = session.get(ComputeRecord, run.provider) or ComputeRecord(
            provider=run.provider, agreed=0, disagreed=0, failed=0, streak=0
        )
        done = matching.recorded(_as_record(row), verdict)
        row.agreed, row.disagreed, row.failed, row.streak = (
            done.agreed, done.disagreed, done.failed, done.streak,
        )  # fmt: skip
        row.updated_at = _now()
        session.add(row)


def _as_record(row: ComputeRecord | None) -> matching.Record:
    if row is None:
        return matching.Record()
    return matching.Record(row.agreed, row.disagreed, row.failed, row.streak)


# Matching and starting runs --------------------------------------------------------------


def _snapshot(node: Node, job_id: int) -> dict[str, Any]:
    with node.sessions() as session:
        job = session.get(ComputeJob, job_id)
        assert job is not None
        runs = jobs.runs_of(session, job)
        locked = sum(r.paid_cents if r.settled else r.escrow_cents for r in runs)
        records = {r.provider: _as_record(r) for r in session.scalars(select(ComputeRecord))}
        peers = [p for p in hamlet.peers(session) if p.revoked_at is None]
        for peer in peers:
            session.expunge(peer)
        return {
            "job": {c.key: getattr(job, c.key) for c in ComputeJob.__table__.columns},
            "inputs": jobs.inputs_of(session, job), "tried": {r.provider for r in runs},
            "first": not runs, "budget_left": job.budget_cents - locked,
            "records": records, "peers": peers,
        }  # fmt: skip


def _ask(node: Node, peers: list[HamletPeer], job: dict[str, Any]) -> list[matching.Answer]:
    """Each paired home's answer: does it take a job of this size now, at what price."""
    asked = {
        "memory_bytes": job["memory_bytes"],
        "fuel": job["fuel"],
        "price_max": job["price_max"],
    }
    answers = []
    for peer in peers:
        try:
            with client.to_peer(node, peer) as toward:
                found = toward.call("POST", f"{API}/offer", json=asked)
        except client.PEER_ERRORS as error:
            log.info("no offer from %s: %s", peer.name, error)
            continue
        answers.append(matching.Answer(
            peer.node_id, peer.name, bool(found["accepts"]), str(found["reason"]),
            int(found["price"]), int(found["memory_bytes"]), int(found["max_fuel"]),
        ))  # fmt: skip
    return answers


def _match(node: Node, job_id: int, wanted: int) -> None:
    seen = _snapshot(node, job_id)
    job = seen["job"]
    ask = matching.Ask(job["memory_bytes"], job["fuel"], job["price_max"], seen["budget_left"])
    answers = _ask(node, [p for p in seen["peers"] if p.node_id not in seen["tried"]], job)
    chosen = matching.choose(ask, answers, seen["records"], seen["tried"], wanted)
    if seen["first"] and chosen:
        best = seen["records"].get(chosen[0].provider, matching.Record())
        needed = matching.replicas(job["redundancy"], job["budget_cents"], best, job["id"])
        chosen = chosen[:needed]
        with transaction(node.sessions) as session:
            found = session.get(ComputeJob, job_id)
            assert found is not None
            found.needed = needed
    peers = {p.node_id: p for p in seen["peers"]}
    started = sum(
        _start(node, job, seen["inputs"], answer, peers[answer.provider]) for answer in chosen
    )
    with transaction(node.sessions) as session:
        found = session.get(ComputeJob, job_id)
        assert found is not None
        waiting = not started and not any(
            r.state == "running" for r in jobs.runs_of(session, found)
        )
        if not waiting and found.state != "running":
            found.state, found.state_at = "running", _now()
        elif waiting and found.state != "matching":
            found.state, found.state_at = "matching", _now()
        late = _now() - found.state_at > timedelta(minutes=node.settings.compute_match_minutes)
    if waiting and late:
        _fail(node, job_id, "No paired home took the job in time; the budget was refunded.")


def _start(
    node: Node, job: dict[str, Any], inputs: list[dict[str, Any]], answer: matching.Answer,
    peer: HamletPeer,
) -> bool:  # fmt: skip
    """Open the run's escrow, send the content, start the run; True if it started."""
    from hameau.accounts.models import Member
    from hameau.ledger import service
    from hameau.ledger.escrow import EscrowError

    cents = matching.run_cost(job["fuel"], answer.price)
    with transaction(node.sessions) as session:
        member = session.get(Member, job["member_id"])
        assert member is not None
        payer = service.member_account(node, session, member).id
    try:
        escrow_id = settle.open_for_run(
            node, payer, settle.payee_of(peer.public_key), cents, job["deadline_at"]
        )
    except EscrowError as error:
        log.warning("no escrow for job %s at %s: %s", job["uid"], peer.name, error.reason)
        return False
    run_uid = jobs.uid()
    with transaction(node.sessions) as session:
        session.add(ComputeRun(
            uid=run_uid, job_id=job["id"], provider=peer.node_id, provider_name=peer.name,
            price=answer.price, escrow_id=escrow_id, escrow_cents=cents, outputs=[],
        ))  # fmt: skip
    wall = max(1, int((job["deadline_at"] - _now()).total_seconds()))
    spec = {
        "run": run_uid, "job": job["uid"], "module": job["module"], "inputs": inputs,
        "args": job["args"], "seed": job["seed"], "memory_bytes": job["memory_bytes"],
        "fuel": job["fuel"], "wall_seconds": min(wall, 7 * 86400), "price": answer.price,
        "escrow": escrow_id,
    }  # fmt: skip
    try:
        with client.to_peer(node, peer, always=True, timeout=60.0) as toward:
            sizes = {job["module"]: None, **{i["digest"]: i["size"] for i in inputs}}
            for digest, size in sizes.items():
                _send(node, toward, digest, size)
            toward.call("POST", f"{API}/runs", json=spec)
    except client.PEER_ERRORS as error:
        _run_failed(node, run_uid, f"The provider did not start the job: {error}")
        return False
    return True


def _send(node: Node, toward: Any, digest: str, size: int | None) -> None:
    """One content to the provider in pieces, from where it holds it."""
    blobs = jobs.store(node)
    with blobs.open_verified(digest) as handle:  # a piece's hash is checked at the provider
        total = size if size is not None else int(blobs.size(digest) or 0)
        offset = 0
        while True:
            handle.seek(offset)
            piece = handle.read(PIECE)
            found = toward.call(
                "PUT", f"{API}/content/{digest}", params={"offset": offset, "total": total},
                content=piece,
            )  # fmt: skip
            held = int(found["held"])
            if held >= total:
                return
            if held == offset and not piece:
                raise client.PeerFailed("The provider keeps no content.", "status")
            offset = held


# Ending a job ---------------------------------------------------------------------------


def _conclude(node: Node, job_id: int, decision: verify.Decision) -> None:
    """Verified: fetch the agreed outputs (checked against the receipts' hash), record each
    provider's verdict, then settle (settling.py): pay the agreeing runs, refund the rest."""
    status, output_hash = decision.result
    outputs: list[dict[str, Any]] = []
    if status == "ok":
        fetched = _fetch_any(node, decision.agreed, output_hash)
        if fetched is None:  # no agreeing provider could hand them over: tried again next time
            _unfetched(node, job_id, decision.agreed)
            return
        outputs = fetched
    with node.sessions() as session:
        runs = {
            r.uid: r for r in session.scalars(select(ComputeRun).where(ComputeRun.job_id == job_id))
        }
        fuel = min(runs[uid].fuel_used for uid in decision.agreed)
        said = runs[decision.agreed[0]].reason  # the sandbox's sentence, the same at each
        pay = {uid: verify.payout(verify.Result(uid, "done", status, fuel_used=fuel,
                                                price=runs[uid].price,
                                                escrow_cents=runs[uid].escrow_cents), True)
               for uid in decision.agreed}  # fmt: skip
    for uid in decision.agreed:  # what each earned, kept until its escrow is released
        update_run(node, uid, {"state": "agreed", "paid_cents": pay[uid]})
        _record(node, uid, "agreed")
    for uid in decision.disagreed:
        update_run(node, uid, {"state": "disagreed", "paid_cents": 0})
        _record(node, uid, "disagreed")
    with transaction(node.sessions) as session:
        job = session.get(ComputeJob, job_id)
        assert job is not None
        job.state, job.state_at = "settling", _now()
        job.reason = "" if status == "ok" else _failed_reason(status, said)
        job.output_hash, job.outputs = (output_hash, outputs) if status == "ok" else ("", [])
    settle_job(node, job_id)


def _unfetched(node: Node, job_id: int, agreed: tuple[str, ...]) -> None:
    """Verifying has its timeout: agreeing runs whose outputs could not be fetched for
    `compute_lost_seconds` since their provider said done fail (not paid), and the job is
    matched elsewhere."""
    lost = timedelta(seconds=node.settings.compute_lost_seconds)
    with node.sessions() as session:
        runs = session.scalars(select(ComputeRun).where(ComputeRun.uid.in_(agreed))).all()
        stale = [r.uid for r in runs if _now() - r.seen_at > lost]
    if len(stale) == len(agreed):
        for uid in stale:
            _run_failed(node, uid, "The provider did not hand over the outputs it computed.")


def _failed_reason(status: str, said: str) -> str:
    """Why a job the providers agree failed ended: the sandbox's own sentence."""
    return (said or f"The job ended with status {status}.")[:300]


def _fetch_any(
    node: Node, agreed: tuple[str, ...], output_hash: str
) -> list[dict[str, Any]] | None:
    for uid in agreed:
        try:
            return _fetch(node, uid, output_hash)
        except (*client.PEER_ERRORS, ReceiptRefused, BlobError) as error:
            log.info("outputs of run %s not fetched: %s", uid, error)
    return None


def _fetch(node: Node, run_uid: str, output_hash: str) -> list[dict[str, Any]]:
    """A run's outputs into the job store, in pieces, each checked by its hash, the whole by
    the receipt's output hash."""
    from hameau.compute import sandbox

    with node.sessions() as session:
        run = session.scalars(select(ComputeRun).where(ComputeRun.uid == run_uid)).one()
        peer, outputs = peer_of(session, run.provider), list(run.outputs)
    assert peer is not None
    blobs = jobs.store(node)
    with client.to_peer(node, peer, always=True, timeout=60.0) as toward:
        for output in outputs:
            if blobs.exists(output["digest"]):
                continue
            with blobs.writer() as writer:
                while writer.size < output["size"]:
                    response = toward.request(
                        "GET", f"{API}/runs/{run_uid}/outputs/{output['digest']}",
                        params={"offset": writer.size},
                    )  # fmt: skip
                    if response.status_code != 200 or not response.content:
                        raise client.PeerFailed("The provider did not send the output.", "status")
                    writer.write(response.content)
                writer.commit(expect=output["digest"])
    with tempfile.TemporaryDirectory() as folder:
        for output in outputs:
            target = Path(folder) / output["name"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blobs.read(output["digest"]))
        if sandbox.tree_hash(Path(folder)) != output_hash:
            raise ReceiptRefused("The outputs sent do not have the hash the receipt says.")
    return outputs


def _fail(node: Node, job_id: int, reason: str, disagreed: tuple[str, ...] = ()) -> None:
    """The job ends unverified: every escrow not yet settled back to the member."""
    with node.sessions() as session:
        job = session.get(ComputeJob, job_id)
        assert job is not None
        runs = [(r.uid, r.state) for r in jobs.runs_of(session, job)]
    for uid, state in runs:
        if uid in disagreed:
            update_run(node, uid, {"state": "disagreed"})
            _record(node, uid, "disagreed")
        elif state == "running":
            update_run(node, uid, {"state": "failed", "reason": reason[:300]})
        settle_or_leave(node, uid)
    with transaction(node.sessions) as session:
        job = session.get(ComputeJob, job_id)
        assert job is not None
        job.state, job.reason = "failed", reason[:300]
        job.cost_cents = sum(r.paid_cents for r in jobs.runs_of(session, job))
        job.state_at = job.finished_at = _now()
    tell(node, {uid: ("disagreed", 0) for uid in disagreed})

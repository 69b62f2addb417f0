"""The provider's side of a job (this node runs jobs for paired homes): answering whether it
takes one (its offer and its owner's idleness decide), receiving the module and inputs in
pieces, running the job in the sandbox under the owner-first supervisor, and the signed
receipt with the outputs for the asker to fetch."""

from __future__ import annotations

import logging
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.compute import jobs, receipts
from hameau.compute.errors import JobRefused, RunRefused
from hameau.compute.models import ComputeProvided
from hameau.hamlet.models import HamletPeer
from hameau.node import once
from hameau.node.blobs import BlobError, is_digest
from hameau.node.datadir import Node
from hameau.node.db import transaction

log = logging.getLogger("hameau.compute")
PIECE = 4 << 20  # bytes of content per request, each way


def offer_answer(node: Node, session: Session, memory: int, fuel: int, price_max: int) -> dict:
    """Whether this node takes a job of this size now, and its offer (ClassAds' other side)."""
    from hameau.compute import idle, offers

    offer = offers.current(node, session)
    reason = offers.accepts(offer, memory, fuel, price_max, datetime.now())
    if reason is None and not idle.is_idle(node):
        reason = "its owner is using it"
    if reason is None and idle.OWN.count() >= offer.cores:
        reason = "every core it lends is busy with other jobs"
    if reason is None:
        from hameau.ledger import service

        service.node_account(node, session)  # the escrow names it: it must be on the ledger
    return {
        "accepts": reason is None, "reason": reason or "", "price": offer.price_per_mfuel,
        "memory_bytes": offer.memory_bytes, "max_fuel": offer.max_fuel,
    }  # fmt: skip


def _incoming(node: Node) -> Path:
    folder = node.layout.root / "compute" / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def receive(node: Node, digest: str, offset: int, total: int, piece: bytes) -> int:
    """Append a piece of content to what arrived of it; stored whole once all of it is there.
    Returns the bytes held (all of them once stored): the sender goes on from there."""
    if not is_digest(digest) or total > jobs.MAX_INPUT_BYTES or len(piece) > PIECE:
        raise JobRefused("A piece of job content needs its sha256 name and at most 4 MiB.")
    blobs = jobs.store(node)
    if blobs.exists(digest):
        return total
    partial = _incoming(node) / f"{digest}.part"
    held = partial.stat().st_size if partial.exists() else 0
    if offset != held:
        return held  # a piece sent again, or one ahead: the sender resumes from here
    with partial.open("ab") as handle:
        handle.write(piece)
    held += len(piece)
    if held >= total:
        with partial.open("rb") as handle, blobs.writer() as writer:
            while chunk := handle.read(1 << 20):
                writer.write(chunk)
            try:
                writer.commit(expect=digest)
            except BlobError:
                raise JobRefused(
                    "The content sent does not hash to its name; send it again."
                ) from None
            finally:
                partial.unlink(missing_ok=True)
    return held


def start(
    node: Node, session: Session, peer: HamletPeer, spec: dict[str, Any]
) -> tuple[ComputeProvided, bool]:
    """Record a run asked by `peer` and start it beside the request (once: the same run asked
    again is the one already there)."""
    found = session.scalars(
        select(ComputeProvided).where(ComputeProvided.run == spec["run"])
    ).first()
    if found is not None:
        if found.asker != peer.node_id:
            raise RunRefused("This run was asked by another home.")
        return found, False
    blobs = jobs.store(node)
    missing = [
        d for d in [spec["module"], *(i["digest"] for i in spec["inputs"])] if not blobs.exists(d)
    ]
    if missing:
        raise RunRefused("Some of the job's content did not arrive; send it again.")
    answer = offer_answer(node, session, spec["memory_bytes"], spec["fuel"], spec["price"])
    if not answer["accepts"]:
        raise RunRefused("This home does not take the job now: %(why)s.", why=answer["reason"])
    row = ComputeProvided(
        run=spec["run"], job=spec["job"], asker=peer.node_id, asker_name=peer.name,
        module=spec["module"], args=spec["args"], inputs=spec["inputs"], seed=spec["seed"],
        memory_bytes=spec["memory_bytes"], fuel=spec["fuel"],
        wall_seconds=spec["wall_seconds"], price=answer["price"], escrow_id=spec["escrow"],
        outputs=[],
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row, True


def run_lock(run: str) -> str:
    """The lock a process holds while it does a run for another home (`held`)."""
    return f"compute-run:{run}"


def held(node: Node, run: str) -> Any:
    """The run's lock, taken (PostgreSQL): held while this process does the run, so another
    process of the node starting meanwhile leaves it alone (state.recover). Taken before the
    run's row is committed: no process sees it running unheld."""
    return once.hold(node, run_lock(run))


def launch(node: Node, run: str, lock: Any = None) -> None:
    lock = lock if lock is not None else held(node, run)
    threading.Thread(
        target=_quietly, args=(node, run, lock), name=f"compute-{run[:8]}", daemon=True
    ).start()


def _quietly(node: Node, run: str, lock: Any = None) -> None:
    try:
        execute(node, run)
    except Exception as error:  # a run that breaks must not take the node down: it is recorded
        log.exception("compute run %s failed", run)
        _finish(node, run, {"state": "failed", "status": "killed", "reason": str(error)[:300]})
    finally:
        once.let_go(lock, run_lock(run))


def _finish(node: Node, run: str, values: dict[str, Any]) -> None:
    with transaction(node.sessions) as session:
        row = session.scalars(select(ComputeProvided).where(ComputeProvided.run == run)).one()
        for name, value in values.items():
            setattr(row, name, value)
        row.finished_at = datetime.now(UTC)


def execute(node: Node, run: str) -> None:
    """Run the job in the sandbox (a child process at the lowest priority) under the owner-first
    supervisor; store the outputs and sign the receipt."""
    from hameau.compute import sandbox, supervise

    with node.sessions() as session:
        row = session.scalars(select(ComputeProvided).where(ComputeProvided.run == run)).one()
        spec = {c.key: getattr(row, c.key) for c in ComputeProvided.__table__.columns}
    blobs = jobs.store(node)
    work = node.layout.root / "compute" / "runs" / run
    shutil.rmtree(work, ignore_errors=True)
    inputs, outputs = work / "in", work / "out"
    inputs.mkdir(parents=True)
    outputs.mkdir()
    for given in spec["inputs"]:
        (inputs / given["name"]).write_bytes(blobs.read(given["digest"]))
    limits = sandbox.Limits(
        fuel=spec["fuel"], memory_bytes=spec["memory_bytes"], wall_seconds=spec["wall_seconds"]
    )
    child = sandbox.Child(
        blobs.read(spec["module"]), spec["args"], inputs, outputs, limits, spec["seed"]
    )
    outcome = supervise.supervise(node, child, lost=lambda: asker_lost(node, run))
    if outcome.status in ("killed", "vacated", supervise.LOST):
        _finish(node, run, {"state": "failed", "status": outcome.status, "reason": outcome.reason,
                            "cpu_seconds": outcome.cpu_seconds})  # fmt: skip
        return
    output_hash = outcome.output_hash
    if outcome.status == "ok" and node.settings.compute_tamper_outputs:
        output_hash = _tamper(outputs, sandbox.tree_hash)
    stored = _store_outputs(blobs, outputs) if outcome.status == "ok" else []
    receipt = receipts.Receipt(
        job=spec["job"], run=run, provider=node.identity.node_id, module_hash=spec["module"],
        input_hash=receipts.input_hash(spec["args"], spec["inputs"], spec["seed"]),
        status=outcome.status, output_hash=output_hash, fuel_used=outcome.fuel_used,
    )  # fmt: skip
    text, signature = receipts.sign(receipt, node.identity.sign)
    shutil.rmtree(work, ignore_errors=True)
    _finish(node, run, {
        "state": "done", "status": outcome.status, "reason": outcome.reason,
        "fuel_used": outcome.fuel_used, "output_hash": output_hash, "outputs": stored,
        "receipt": text, "signature": signature, "cpu_seconds": outcome.cpu_seconds,
    })  # fmt: skip


def asker_lost(node: Node, run: str) -> str | None:
    """Why a run goes on for nobody: its asking home has not asked about it (GET runs/{run},
    every few seconds while it waits) for `compute_lost_seconds` (the home stopped, unplugged
    or gone), as the asker gives up on a provider it cannot reach; else None."""
    lost = node.settings.compute_lost_seconds
    with node.sessions() as session:
        row = session.scalars(select(ComputeProvided).where(ComputeProvided.run == run)).one()
        since = row.asked_at or row.created_at
    if (datetime.now(UTC) - since).total_seconds() <= lost:
        return None
    return (
        f"The home that asked for the job stopped asking about it for {lost:g} seconds; the"
        " run was stopped here, and its contract is refunded to the member at its deadline."
    )


def refunds_due(node: Node) -> None:
    """Runs ended here whose asker never said the verdict (it stopped, or its word was lost):
    past the escrow's deadline (the job's, as its wall time said, plus
    `compute_escrow_margin_minutes`) this node asks the ledger to refund it, so that no
    member's credit stays locked for a home that went away; an escrow already settled is
    recorded as the ledger says it (what this node was paid)."""
    from hameau.compute import settle
    from hameau.ledger import remote, service
    from hameau.ledger.escrow import EscrowError, Settlement, backend

    now = datetime.now(UTC)
    with node.sessions() as session:
        query = select(ComputeProvided).where(
            ComputeProvided.verdict == "", ComputeProvided.state != "running",
            ComputeProvided.escrow_id != "",
        )  # fmt: skip
        due = [(r.run, r.escrow_id) for r in session.scalars(query)
               if now >= r.created_at + timedelta(seconds=r.wall_seconds) + settle.margin(node)]  # fmt: skip
    for run, escrow_id in due:
        try:
            with transaction(node.sessions) as session:
                remote.fresh(node, session)  # the escrow as the notaries know it
                mine = service.node_account(node, session).id
            try:
                done = backend(node).refund(escrow_id)
                verdict = "refunded"
            except EscrowError as error:
                if error.reason not in ("already_settled", "unknown_escrow"):
                    raise  # too early: asked again at the next look
                known = error.reason == "already_settled"  # else no such contract: nothing owed
                done = backend(node).settlement(escrow_id) if known else Settlement("", "", ())
                verdict = "settled" if known else "no contract"
        except Exception as error:  # too early for the ledger, or its notary out of reach
            log.info("run %s: escrow %s not refunded yet: %s", run, escrow_id, error)
            continue
        paid = sum(cents for account, cents in done.paid if account == mine)
        with transaction(node.sessions) as session:
            row = session.scalars(select(ComputeProvided).where(ComputeProvided.run == run)).one()
            row.verdict, row.paid_cents = verdict, paid


def _tamper(outputs: Path, tree_hash: Any) -> str:
    """Test only (compute_tamper_outputs): a dishonest provider's changed output."""
    files = sorted(p for p in outputs.rglob("*") if p.is_file())
    target = files[0] if files else outputs / "tampered"
    data = bytearray(target.read_bytes() if target.exists() else b"")
    if data:
        data[0] ^= 0xFF
    else:
        data = bytearray(b"!")
    target.write_bytes(bytes(data))
    return str(tree_hash(outputs))


def _store_outputs(blobs: Any, outputs: Path) -> list[dict[str, Any]]:
    stored = []
    for path in sorted(p for p in outputs.rglob("*") if p.is_file()):
        with path.open("rb") as handle:
            digest, size = jobs.put(blobs, handle)
        stored.append(
            {"name": path.relative_to(outputs).as_posix(), "digest": digest, "size": size}
        )
    return stored


def provided(session: Session, limit: int = 100) -> list[ComputeProvided]:
    query = select(ComputeProvided).order_by(ComputeProvided.id.desc()).limit(limit)
    return list(session.scalars(query))

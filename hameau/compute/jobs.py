"""Submitting a job and reading it back: the module and input files stored as content-
addressed blobs, the job's rows, the member's jobs, and its verified outputs written out.

Job content lives in a blob store of its own (`compute-blobs/` in the data dir, or under the
node's S3 prefix: the same backend as the node's): the files part's garbage collection keeps only what file rows name,
and job content is neither a member's file nor counted in their quota."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.compute import receipts
from hameau.compute.errors import JobNotFound, JobRefused, NotVerified
from hameau.compute.matching import run_cost
from hameau.compute.models import ComputeInput, ComputeJob, ComputeRun
from hameau.node.blobs import BlobStore, load_store
from hameau.node.datadir import Node

WASM_MAGIC = b"\0asm"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
MAX_MEMORY = 4 << 30
MAX_INPUT_BYTES = 1 << 30


def store(node: Node) -> BlobStore:
    """The blob store of job content (modules, inputs, outputs): beside the node's files in
    their backend, under `compute-blobs` (on S3, a prefix every process of the node shares)."""
    kind, folder = node.settings.blob_store, node.layout.root / "compute-blobs"
    if kind.startswith("s3://"):
        return load_store(f"{kind.rstrip('/')}/compute-blobs", folder, node.settings)
    return load_store(kind, folder)


def put(blobs: BlobStore, source: BinaryIO) -> tuple[str, int]:
    """Store a stream; its digest and size."""
    with blobs.writer() as writer:
        while chunk := source.read(1 << 20):
            writer.write(chunk)
        digest = writer.commit()
        return digest, writer.size


def uid() -> str:
    return secrets.token_hex(16)


def _check(
    module: bytes, inputs: list[tuple[str, Path]], memory: int, fuel: int, deadline: datetime
) -> None:
    if not module.startswith(WASM_MAGIC):
        raise JobRefused("The module is not a WebAssembly module (a .wasm file built for WASI).")
    names = [name for name, _ in inputs]
    if len(set(names)) != len(names) or not all(NAME.fullmatch(name) for name in names):
        raise JobRefused(
            "Input files need distinct plain names (letters, digits, dots, dashes), no folders."
        )
    if sum(path.stat().st_size for _, path in inputs) > MAX_INPUT_BYTES:
        raise JobRefused("The input files are bigger than 1 GiB together; split the job.")
    if not 1 << 20 <= memory <= MAX_MEMORY:
        raise JobRefused("Give the memory between 1 MiB and 4 GiB.")
    if fuel < 1:
        raise JobRefused("Give the fuel (the most the job may use) as a positive number.")
    if deadline <= datetime.now(UTC) + timedelta(minutes=1):
        raise JobRefused("Give a deadline at least a minute from now.")


def default_price(budget_cents: int, fuel: int, redundancy: int) -> int:
    """The highest price per million fuel at which the budget pays every run, and a third
    provider on a mismatch."""
    return budget_cents * 1_000_000 // ((redundancy + 1) * fuel)  # 0: only free providers


def submit(
    node: Node,
    session: Session,
    member: Member,
    module: Path,
    inputs: list[tuple[str, Path]],
    args: list[str],
    *,
    memory: int,
    fuel: int,
    deadline: datetime,
    budget_cents: int,
    redundancy: int = 2,
    price_max: int | None = None,
    seed: int = 0,
) -> ComputeJob:
    """Store the module and inputs and record the job (matched by the served node)."""
    data = module.read_bytes()
    _check(data, inputs, memory, fuel, deadline)
    if not 1 <= redundancy <= 5:
        raise JobRefused("Give a redundancy between 1 and 5 (2: two providers must agree).")
    if not 0 <= seed < 2**63:  # what the database holds, as the API's description says
        raise JobRefused("Give a seed between 0 and 9,223,372,036,854,775,807.")
    if price_max is not None and not 0 <= price_max <= 1 << 40:
        raise JobRefused("Give a price between 0 and 1,099,511,627,776 cents per million fuel.")
    price = price_max if price_max is not None else default_price(budget_cents, fuel, redundancy)
    if run_cost(fuel, price) * redundancy > budget_cents:
        raise JobRefused(
            "The budget does not cover %(count)s runs at that price.", count=redundancy
        )
    _check_credit(node, session, member, budget_cents)
    blobs = store(node)
    with module.open("rb") as handle:
        digest, _ = put(blobs, handle)
    files = []
    for name, path in inputs:
        with path.open("rb") as handle:
            found, size = put(blobs, handle)
        files.append({"name": name, "digest": found, "size": size})
    seed = seed or secrets.randbelow(2**31)
    job = ComputeJob(
        uid=uid(), member_id=member.id, name=module.name[:200], module=digest, args=list(args),
        seed=seed, memory_bytes=memory, fuel=fuel, deadline_at=deadline,
        budget_cents=budget_cents, price_max=price, redundancy=redundancy, needed=redundancy,
        input_hash=receipts.input_hash(list(args), files, seed), outputs=[],
    )  # fmt: skip
    session.add(job)
    session.flush()
    for given in files:
        session.add(ComputeInput(job_id=job.id, **given))
    return job


def _check_credit(node: Node, session: Session, member: Member, cents: int) -> None:
    from hameau.ledger import remote, service

    remote.fresh(node, session)
    account = service.member_account(node, session, member)
    floor = -(account.limit or 0)
    if account.balance - cents < floor:
        raise JobRefused(
            "Not enough credit for this budget: the balance is %(balance)s. Lower the budget.",
            balance=service.euros(account.balance),
        )


def inputs_of(session: Session, job: ComputeJob) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ComputeInput).where(ComputeInput.job_id == job.id).order_by(ComputeInput.name)
    )
    return [{"name": r.name, "digest": r.digest, "size": r.size} for r in rows]


def runs_of(session: Session, job: ComputeJob) -> list[ComputeRun]:
    query = select(ComputeRun).where(ComputeRun.job_id == job.id).order_by(ComputeRun.id)
    return list(session.scalars(query))


def member_jobs(session: Session, member: Member, limit: int = 100) -> list[ComputeJob]:
    query = (
        select(ComputeJob)
        .where(ComputeJob.member_id == member.id)
        .order_by(ComputeJob.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def find(session: Session, member: Member, reference: str) -> ComputeJob:
    """A member's job by its number or its uid."""
    query = select(ComputeJob).where(ComputeJob.member_id == member.id)
    if reference.isdigit():
        query = query.where(ComputeJob.id == int(reference))
    else:
        query = query.where(ComputeJob.uid == reference)
    job = session.scalars(query).first()
    if job is None:
        raise JobNotFound(
            "No job %(job)s of yours; see `hameau compute status`.", job=reference[:40]
        )
    return job


def write_outputs(node: Node, job: ComputeJob, folder: Path) -> list[Path]:
    """The job's verified outputs written under `folder` (refused before verification)."""
    if job.state != "done" or job.output_hash == "":
        raise NotVerified(
            "This job's outputs are not verified (it is %(state)s); wait until it is done.",
            state=job.state,
        )
    blobs = store(node)
    written = []
    for output in job.outputs:
        target = (folder / output["name"]).resolve()
        if not target.is_relative_to(folder.resolve()):
            continue  # a name leaving the folder is never written
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blobs.read(output["digest"]))
        written.append(target)
    return written

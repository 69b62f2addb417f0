"""`hameau compute`: submit a WebAssembly job to the hamlet, follow it, fetch its verified
outputs, and list the jobs this node ran for others. The served node does the matching,
running, verifying and paying (hameau/compute/driver.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from hameau.compute.errors import JobRefused
from hameau.compute.offer_cli import offer
from hameau.node.cli import console, data_dir_option, node_session

compute_app = click.Group(
    "compute",
    help="Lending idle compute: WebAssembly jobs run, verified and paid across the hamlet.",
    no_args_is_help=True,
)
compute_app.add_command(offer)  # compute-offers' `hameau compute offer`

SIZE = re.compile(r"\s*(\d+)\s*([kKmMgG]?)(?:i?[bB])?\s*")
COUNT = re.compile(r"\s*(\d+)\s*([kKmMgG]?)\s*")
SPAN = re.compile(r"\s*(\d+)\s*([smhd])\s*")


def parse_size(text: str) -> int:
    """ "64M", "1G", "65536" in bytes (K, M, G: powers of 1024)."""
    found = SIZE.fullmatch(text)
    if found is None:
        raise JobRefused('Give the memory like "64M" or "1G".')
    return int(found.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[found.group(2).lower()]


def parse_count(text: str) -> int:
    """ "500M", "2G", "1000000": fuel units (K, M, G: thousands, millions, billions)."""
    found = COUNT.fullmatch(text)
    if found is None:
        raise JobRefused('Give the fuel like "500M" (million) or "2G" (billion).')
    return int(found.group(1)) * {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[found.group(2).lower()]


def parse_deadline(text: str) -> datetime:
    """ "30m", "2h", "1d" from now, or a date and time ("2026-12-01T18:00", UTC if no zone)."""
    found = SPAN.fullmatch(text)
    if found is not None:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[found.group(2)]
        return datetime.now(UTC) + timedelta(**{unit: int(found.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise JobRefused('Give the deadline like "2h" (from now) or "2026-12-01T18:00".') from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _inputs(given: tuple[Path, ...]) -> list[tuple[str, Path]]:
    return [(path.name, path) for path in given]


@compute_app.command("submit")
@click.argument("module", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--member", required=True, help="The member who submits and pays.")
@click.option("--input", "inputs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="An input file, read by the job under /in (repeat for more).")  # fmt: skip
@click.option("--arg", "args", multiple=True, help="An argument given to the job (repeat for more).")  # fmt: skip
@click.option("--memory", default="64M", show_default=True, help="The most memory the job may use.")  # fmt: skip
@click.option("--fuel", default="1G", show_default=True, help="The most fuel (Wasmtime's meter) the job may use.")  # fmt: skip
@click.option("--deadline", default="1h", show_default=True, help='When the results are due: "2h" or a date and time.')  # fmt: skip
@click.option("--budget", required=True, help="The most the job may cost, in euros of credit (e.g. 2,50).")  # fmt: skip
@click.option("--price", type=int, default=None, help="The highest price, in cents per million fuel (default: what the budget allows).")  # fmt: skip
@click.option("--redundancy", type=int, default=2, show_default=True, help="How many providers must agree on the result.")  # fmt: skip
@click.option("--seed", type=int, default=0, help="The job's random seed (default: chosen at random).")  # fmt: skip
@data_dir_option
def submit(
    module: Path, member: str, inputs: tuple[Path, ...], args: tuple[str, ...], memory: str,
    fuel: str, deadline: str, budget: str, price: int | None, redundancy: int, seed: int,
    data_dir: Path | None,
) -> None:  # fmt: skip
    """Submit MODULE (a .wasm built for WASI) to run on the hamlet's idle machines."""
    from hameau.accounts.members import find_member
    from hameau.compute import jobs
    from hameau.compute.wake import nudge
    from hameau.ledger.service import euros, parse_euros

    cents = parse_euros(budget)
    with node_session(data_dir) as (node, session):
        job = jobs.submit(
            node, session, find_member(session, member), module, _inputs(inputs), list(args),
            memory=parse_size(memory), fuel=parse_count(fuel), deadline=parse_deadline(deadline),
            budget_cents=cents, redundancy=redundancy, price_max=price, seed=seed,
        )  # fmt: skip
        number, root = job.id, node.layout.root
    when = "now" if nudge(root) else "at its next look (within a minute while it is served)"
    console.print(
        f"Job {number} submitted ({euros(cents)} at most, {redundancy} providers must agree);"
        f" the node matches it {when}. Follow it with `hameau compute status {number}`."
    )


@compute_app.command("status")
@click.argument("job", required=False)
@click.option("--member", default=None, help="Only this member's jobs.")
@data_dir_option
def status(job: str | None, member: str | None, data_dir: Path | None) -> None:
    """The jobs submitted here (or JOB in detail): state, providers, cost."""
    from sqlalchemy import select

    from hameau.compute import jobs
    from hameau.compute.errors import JobNotFound
    from hameau.compute.models import ComputeJob
    from hameau.ledger.service import euros

    with node_session(data_dir) as (_node, session):
        query = select(ComputeJob).order_by(ComputeJob.id.desc())
        if job is not None:
            query = query.where(
                ComputeJob.id == int(job) if job.isdigit() else ComputeJob.uid == job
            )
        if member is not None:
            from hameau.accounts.members import find_member

            query = query.where(ComputeJob.member_id == find_member(session, member).id)
        found = list(session.scalars(query.limit(100)))
        if job is not None and not found:
            raise JobNotFound("No job %(job)s here; see `hameau compute status`.", job=job[:40])
        for row in found:
            reason = f" ({row.reason})" if row.reason else ""
            click.echo(
                f"job {row.id}  {row.name}  {row.state}{reason}  cost {euros(row.cost_cents)}"
            )
            if job is None:
                continue
            for run in jobs.runs_of(session, row):
                why = f" ({run.reason})" if run.reason else ""
                click.echo(
                    f"  run at {run.provider_name}: {run.state}{why}  fuel {run.fuel_used}"
                    f"  paid {euros(run.paid_cents)}"
                )
            for output in row.outputs:
                click.echo(f"  output {output['name']}  {output['size']} bytes")


@compute_app.command("fetch")
@click.argument("job")
@click.option("--to", "folder", required=True, type=click.Path(file_okay=False, path_type=Path), help="The folder to write the outputs in.")  # fmt: skip
@data_dir_option
def fetch(job: str, folder: Path, data_dir: Path | None) -> None:
    """Write JOB's verified outputs into a folder (refused until they are verified)."""
    from sqlalchemy import select

    from hameau.compute import jobs
    from hameau.compute.errors import JobNotFound
    from hameau.compute.models import ComputeJob

    with node_session(data_dir) as (node, session):
        query = select(ComputeJob).where(
            ComputeJob.id == int(job) if job.isdigit() else ComputeJob.uid == job
        )
        row = session.scalars(query).first()
        if row is None:
            raise JobNotFound("No job %(job)s here; see `hameau compute status`.", job=job[:40])
        folder.mkdir(parents=True, exist_ok=True)
        written = jobs.write_outputs(node, row, folder)
    console.print(f"{len(written)} verified output(s) written to {folder}.")


@compute_app.command("ran")
@data_dir_option
def ran(data_dir: Path | None) -> None:
    """The jobs this node ran for paired homes: state, fuel used, what it earned."""
    from hameau.compute import provider
    from hameau.ledger.service import euros

    with node_session(data_dir) as (_node, session):
        for row in provider.provided(session):
            verdict = f" {row.verdict}" if row.verdict else ""
            why = f" ({row.reason})" if row.reason and row.status != "ok" else ""
            click.echo(
                f"run {row.run[:8]} for {row.asker_name}: {row.state}{verdict}  status {row.status}"
                f"{why}  fuel {row.fuel_used}  earned {euros(row.paid_cents)}"
            )

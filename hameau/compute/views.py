"""The compute pages: "Jobs I submitted" (/compute: the submission form, each job's state,
providers, cost and its verified outputs to download) and "Jobs my home server ran" (/compute/ran:
what this home ran for the others, the fuel, what it earned). The same as `hameau compute
submit|status|fetch|ran`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.compute import jobs, provider
from hameau.compute.errors import JobNotFound, JobRefused
from hameau.errors import N_, HameauError
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.openapi import RowId, errors

router = APIRouter(prefix="/compute", include_in_schema=False)

STATES = {
    "matching": N_("looking for providers"),
    "running": N_("running"),
    "settling": N_("verified, paying the providers"),
    "done": N_("verified"),
    "failed": N_("failed"),
    "agreed": N_("agreed, paid"),
    "disagreed": N_("disagreed, not paid"),
    "refunded": N_("not paid: its contract refunded to the member"),
    "settled": N_("settled on the ledger"),
    "no contract": N_("no contract on the ledger"),
}
FIELDS = ("memory", "fuel", "deadline", "budget", "redundancy", "args")


def _page(request: Request, db: DB, visitor: Any, status: int = 200, **more: Any) -> Response:
    from hameau.ledger.service import euros

    member = member_of(visitor)
    listed = [(job, jobs.runs_of(db, job)) for job in jobs.member_jobs(db, member)]
    context = {
        "title": N_("Jobs I submitted"), "jobs": listed, "states": STATES, "euros": euros,
        "given": {}, **more,
    }  # fmt: skip
    return request.app.state.pages.render(request, "compute/jobs.html", context, status)


@router.get("")
async def jobs_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    return _page(request, db, visitor, submitted=request.query_params.get("done") == "submitted")


async def _saved(form: Any, name: str, folder: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for item in form.getlist(name):
        if not isinstance(item, UploadFile) or not item.filename:
            continue
        plain = item.filename.replace("\\", "/").rsplit("/", 1)[-1]
        target = folder / f"{len(found)}-{plain}"
        with target.open("wb") as handle:
            while chunk := await item.read(1 << 20):
                handle.write(chunk)
        found.append((plain, target))
    return found


@router.post("/jobs", responses=errors(400, 403))
async def submit(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    """The submission form: the module and inputs uploaded, the job matched at once."""
    from hameau.compute.cli import parse_count, parse_deadline, parse_size
    from hameau.ledger.service import parse_euros

    member = member_of(visitor)
    form = await request.form(max_files=101, max_fields=20)
    given = {name: str(form.get(name, ""))[:200] for name in FIELDS}
    node = request.app.state.node
    with tempfile.TemporaryDirectory(dir=node.layout.root) as folder:
        try:
            modules = await _saved(form, "module", Path(folder))
            if len(modules) != 1:
                raise JobRefused("Choose the job's module: one .wasm file.")
            inputs = await _saved(form, "inputs", Path(folder))
            module = Path(folder) / modules[0][0]
            modules[0][1].rename(module)
            memory, fuel = parse_size(given["memory"]), parse_count(given["fuel"])
            deadline, cents = parse_deadline(given["deadline"]), parse_euros(given["budget"])
            copies = int(given["redundancy"]) if given["redundancy"].isdigit() else 2
            args = given["args"].split()
            await anyio.to_thread.run_sync(
                lambda: jobs.submit(
                    node,
                    db,
                    member,
                    module,
                    inputs,
                    args,
                    memory=memory,
                    fuel=fuel,
                    deadline=deadline,
                    budget_cents=cents,
                    redundancy=copies,
                )
            )
        except HameauError as failure:
            db.rollback()
            said = failure.render(request.app.state.pages.gettext(request))
            return _page(request, db, visitor, failure.status, error=said, given=given)
    db.commit()
    driver = getattr(request.app.state, "compute", None)
    if driver is not None:
        driver.nudge()
    return RedirectResponse("/compute?done=submitted", status_code=303)


@router.get("/jobs/{job}/outputs/{digest}", responses=errors(403, 404, 409))
async def download(
    db: DB, visitor: MemberVisitor, job: RowId, digest: str, request: Request
) -> Response:
    """One verified output of the member's job."""
    found = jobs.find(db, member_of(visitor), str(job))
    output = next((o for o in found.outputs if o["digest"] == digest), None)
    if found.state != "done" or output is None:
        raise JobNotFound("This job has no such verified output.")
    data = await anyio.to_thread.run_sync(jobs.store(request.app.state.node).read, digest)
    name = output["name"].rsplit("/", 1)[-1]
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.get("/ran")
async def ran_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    from hameau.ledger.service import euros

    context = {
        "title": N_("Jobs my home server ran"), "runs": provider.provided(db), "states": STATES,
        "euros": euros,
    }  # fmt: skip
    return request.app.state.pages.render(request, "compute/ran.html", context)

"""The travel pages: on a home node, prepare a trip (what to take, the command to run on the
laptop) and see or revoke one's satellites; on a satellite, where sync stands and a button
to sync now."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.accounts.models import AppToken, Device
from hameau.errors import N_, BadRequest, NotFound
from hameau.files import service as files
from hameau.travel import satellite as record
from hameau.travel.api import revoke_satellite
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.openapi import RowId

router = APIRouter(prefix="/travel", include_in_schema=False)

NOTICES = {
    "revoked": N_("The satellite's credential is revoked; it can no longer sync."),
    "syncing": N_("Sync started; reload this page in a moment."),
}


def _folders(db: DB, where: files.Space) -> list[str]:
    top = files.root(db, where)
    return [entry.name for entry in files.children(db, top) if entry.is_dir]


@router.get("")
async def travel_page(
    request: Request,
    db: DB,
    visitor: MemberVisitor,
    take: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006 - FastAPI reads it
) -> Response:
    member = member_of(visitor)
    pages = request.app.state.pages
    notice = NOTICES.get(request.query_params.get("done", ""))
    if request.app.state.satellite is not None:
        from hameau.travel import lifecycle

        node = request.app.state.node
        satellite = record.load(node.layout.root)  # fresh: a `travel sync` may have run since
        if satellite is None:
            raise NotFound("This node is not a satellite.")
        status = lifecycle.status(node, satellite, None)
        last = datetime.fromisoformat(status.last_sync) if status.last_sync else None
        context = {
            "title": N_("Travel"), "satellite": satellite, "status": status, "notice": notice,
            "auto": request.app.state.autosync, "last_sync": last,
        }  # fmt: skip
        return pages.render(request, "travel_satellite.html", context)
    chosen = [text for text in take if _valid(text)]
    base = f"{request.url.scheme}://{request.url.netloc}"
    command = None
    if chosen:
        words = ["hameau", "travel", "pack", "--from", base, "--member", member.name]
        for text in chosen:
            words += ["--take", text]
        words += ["--data-dir", "~/hameau-voyage"]
        command = " ".join(
            shlex.quote(word) if word != "~/hameau-voyage" else word for word in words
        )
    satellites = db.execute(
        select(Device, AppToken)
        .join(AppToken, AppToken.device_id == Device.id)
        .where(Device.owner_id == member.id, AppToken.member_id == member.id)
        .order_by(Device.created_at.desc())
    ).all()
    context = {
        "title": N_("Travel"),
        "mine": _folders(db, files.Space("mine", member.id)),
        "household": _folders(db, files.Space("household", None)),
        "chosen": chosen,
        "command": command,
        "satellites": satellites,
        "notice": notice,
    }
    return pages.render(request, "travel_home.html", context)


def _valid(text: str) -> bool:
    try:
        record.Take.parse(text)
    except BadRequest:
        return False
    return True


@router.post("/satellites/{device_id}/revoke")
async def revoke(db: DB, visitor: MemberVisitor, device_id: RowId) -> Response:
    member = member_of(visitor)
    token = db.scalar(
        select(AppToken).where(AppToken.device_id == device_id, AppToken.member_id == member.id)
    )
    if token is None:
        raise NotFound("No such satellite.")
    revoke_satellite(db, token)
    return RedirectResponse("/travel?done=revoked", status_code=303)


@router.post("/sync")
async def sync_now(request: Request, visitor: MemberVisitor) -> Response:
    member_of(visitor)
    auto = request.app.state.autosync
    if auto is None:
        raise NotFound("This node is not a satellite.")
    auto.now()
    return RedirectResponse("/travel?done=syncing", status_code=303)

"""The admins' page of the node's disk: space used per member (files, earlier versions,
trash), the household's trash, the integrity check's quarantine, and what is free; with the
purges that give space back at once (`files.purge`)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.accounts import members
from hameau.errors import N_
from hameau.files import purge
from hameau.web.auth import DB, AdminVisitor
from hameau.web.metrics import LOW_SPACE, disk_spaces
from hameau.web.openapi import RowId

router = APIRouter(prefix="/admin/space", include_in_schema=False)

NOTICES = {
    "trash": N_("Trash emptied; its space is free again."),
    "versions": N_("Earlier versions deleted; their space is free again."),
}


@router.get("")
async def space_page(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    node = request.app.state.node
    used = purge.space_used(db)
    rows = [(member, used.get(member.id, purge.Usage())) for member in members.list_members(db)]
    context = {
        "title": N_("Space on the disk"),
        "rows": rows,
        "household_trash": purge.household_trash(db),
        "quarantine": node.blobs.quarantine_size() if node.blobs.quarantined() else None,
        "disks": disk_spaces(request.app.state.metrics.folders),
        "low_share": int(LOW_SPACE * 100),
        "notice": NOTICES.get(request.query_params.get("done", "")),
    }
    return request.app.state.pages.render(request, "files_space.html", context)


@router.post("/household/trash")
async def purge_household_trash(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    purge.purge_trash(db, None, request.app.state.node.blobs)
    return RedirectResponse("/admin/space?done=trash", status_code=303)


@router.post("/{member_id}/trash")
async def purge_trash(
    request: Request, db: DB, visitor: AdminVisitor, member_id: RowId
) -> Response:
    member = members.get_member(db, member_id)
    purge.purge_trash(db, member.id, request.app.state.node.blobs)
    return RedirectResponse("/admin/space?done=trash", status_code=303)


@router.post("/{member_id}/versions")
async def purge_versions(
    request: Request, db: DB, visitor: AdminVisitor, member_id: RowId
) -> Response:
    member = members.get_member(db, member_id)
    purge.purge_versions(db, member.id, request.app.state.node.blobs)
    return RedirectResponse("/admin/space?done=versions", status_code=303)

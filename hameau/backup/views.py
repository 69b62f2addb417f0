"""The admins' backup page: the last backup (when, size, where, how it ended), a warning when
the last good one is too old, "Back up now", the targets (and adding one), and the recovery
sheet: shown once after the first setup, again only when asked for with a confirmation."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Form
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.backup import key, service
from hameau.errors import N_, BadRequest, HameauError
from hameau.web.auth import DB, AdminVisitor

router = APIRouter(prefix="/backup", include_in_schema=False)

OUTCOMES = {
    "ok": N_("backed up"),
    "failed": N_("failed"),
    "interrupted": N_("interrupted"),
    "running": N_("running"),
}
NOTICES = {
    "started": N_("Backup started; this page shows how it ended once you reload it."),
    "running": N_("A backup is running already."),
}


def _context(request: Request, db: Session, **more: Any) -> dict[str, Any]:
    node = request.app.state.node
    gettext = request.app.state.pages.gettext(request)
    runs = service.last_runs(db)
    scheduler = getattr(request.app.state, "backups", None)
    return {
        "title": N_("Backups"),
        "runs": runs,
        "last": runs[0] if runs else None,
        "good": service.last_good(db),
        "late": service.too_old(node, db),
        "warn_days": node.settings.backup_warn_days,
        "every_hours": node.settings.backup_every_hours,
        "targets": service.specs(db, node),
        "has_key": key.has_key(node.layout),
        "outcomes": OUTCOMES,
        "said": lambda run: error.render(gettext) if (error := service.said(run)) else "",
        "running": scheduler is not None
        and scheduler.task is not None
        and not scheduler.task.done(),
        "notice": NOTICES.get(request.query_params.get("done", "")),
        **more,
    }


def _page(request: Request, db: Session, status: int = 200, **more: Any) -> Response:
    context = _context(request, db, **more)
    return request.app.state.pages.render(request, "backup/page.html", context, status)


@router.get("")
async def backup_page(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    node = request.app.state.node
    if key.has_key(node.layout) and not service.sheet_shown(node):
        # The key was made unattended (a target of the settings): its sheet, once, here.
        service.mark_sheet_shown(node)
        return _page(request, db, sheet=service.recovery_sheet(node, db))
    return _page(request, db)


@router.post("/now")
async def back_up_now(request: Request, visitor: AdminVisitor) -> Response:
    started = request.app.state.backups.now()
    return RedirectResponse(f"/backup?done={'started' if started else 'running'}", 303)


@router.post("/targets")
async def add_target(
    request: Request, db: DB, visitor: AdminVisitor, target: Annotated[str, Form(max_length=500)]
) -> Response:
    node = request.app.state.node
    db.commit()  # no write lock held while restic makes the repository
    try:
        done = await anyio.to_thread.run_sync(service.setup, node, target)
    except HameauError as failure:
        said = failure.render(request.app.state.pages.gettext(request))
        return _page(request, db, failure.status, target_error=said, given_target=target)
    if done.sheet is not None:
        service.mark_sheet_shown(node)
    request.app.state.backups.rearm()
    return _page(request, db, sheet=done.sheet, added=done.added, added_label=done.label)


@router.post("/sheet")
async def show_sheet(
    request: Request, db: DB, visitor: AdminVisitor, confirm: Annotated[bool, Form()] = False
) -> Response:
    node = request.app.state.node
    failure = None
    if not key.has_key(node.layout):
        failure = BadRequest("No backup is set up yet, so there is no recovery sheet.")
    elif not confirm:
        failure = BadRequest(
            "Tick the box to show the recovery sheet: it holds the backup password and the"
            " home server's key."
        )
    if failure is not None:
        said = failure.render(request.app.state.pages.gettext(request))
        return _page(request, db, failure.status, sheet_error=said)
    return _page(request, db, sheet=service.recovery_sheet(node, db), again=True)

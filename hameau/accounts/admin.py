"""Admin pages: members (add, disable, quota) and devices (add, enrol a browser, retire)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Form
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.accounts import devices, members
from hameau.accounts.models import DEVICE_KINDS, Member
from hameau.errors import N_, BadRequest, Conflict, HameauError
from hameau.node.db import utcnow
from hameau.web.auth import DB, AdminVisitor, set_device_cookie
from hameau.web.openapi import RowId

router = APIRouter(prefix="/admin", include_in_schema=False)

NOTICES = {
    "added": N_("Member added."),
    "disabled": N_("Member disabled; their sessions and app passwords have ended."),
    "enabled": N_("Member enabled."),
    "quota": N_("Quota saved."),
    "device-added": N_("Device added."),
    "enrolled": N_("This browser is now enrolled as this device."),
    "retired": N_("Device retired."),
}


def _page(request: Request, template: str, status: int = 200, **context: object) -> Response:
    context["notice"] = NOTICES.get(request.query_params.get("done", ""))
    return request.app.state.pages.render(request, template, context, status)


def _members_page(request: Request, db: Session, status: int = 200, **context: object) -> Response:
    listed = members.list_members(db)
    living = [member for member in listed if member.moved_to is None]
    # Moved to another home (moving home): shown apart, with the end of their rollback window.
    window = timedelta(days=request.app.state.node.settings.move_rollback_days)
    moved = [(m, m.moved_at + window) for m in listed if m.moved_to and m.moved_at]
    return _page(
        request, "admin_members.html", status, members=living, moved=moved, now=utcnow(),
        **context,
    )  # fmt: skip


@router.get("/members")
async def members_page(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    return _members_page(request, db)


@router.post("/members")
async def add_member(
    request: Request,
    db: DB,
    visitor: AdminVisitor,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    display_name: Annotated[str, Form(max_length=200)] = "",
    quota_mb: Annotated[int | None, Form()] = None,
    admin: Annotated[bool, Form()] = False,
) -> Response:
    settings = request.app.state.node.settings
    try:
        members.add_member(
            db, name, password, display_name=display_name, admin=admin,
            quota_bytes=(quota_mb if quota_mb is not None else settings.default_quota_mb) << 20,
        )  # fmt: skip
    except HameauError as failure:
        message = failure.render(request.app.state.pages.gettext(request))
        return _members_page(request, db, failure.status, error=message, form_name=name)
    return RedirectResponse("/admin/members?done=added", status_code=303)


def _active_admins(db: Session) -> int:
    query = select(func.count(Member.id)).where(Member.is_admin, Member.disabled_at.is_(None))
    return db.scalar(query) or 0


@router.post("/members/{member_id}/disable")
async def disable_member(db: DB, visitor: AdminVisitor, member_id: RowId) -> Response:
    member = members.get_member(db, member_id)
    if member.is_admin and member.active and _active_admins(db) <= 1:
        raise Conflict("The home server's last admin cannot be disabled; make another admin first.")
    members.set_disabled(db, member, True)
    return RedirectResponse("/admin/members?done=disabled", status_code=303)


@router.post("/members/{member_id}/enable")
async def enable_member(db: DB, visitor: AdminVisitor, member_id: RowId) -> Response:
    members.set_disabled(db, members.get_member(db, member_id), False)
    return RedirectResponse("/admin/members?done=enabled", status_code=303)


@router.post("/members/{member_id}/quota")
async def set_quota(
    db: DB, visitor: AdminVisitor, member_id: RowId, quota_mb: Annotated[int, Form()]
) -> Response:
    members.set_quota(members.get_member(db, member_id), quota_mb)
    return RedirectResponse("/admin/members?done=quota", status_code=303)


def _devices_page(request: Request, db: Session, status: int = 200, **context: object) -> Response:
    listed = devices.list_devices(db)
    people = members.list_members(db, active_only=True)
    return _page(
        request, "admin_devices.html", status,
        devices=listed, kinds=DEVICE_KINDS, people=people, **context,
    )  # fmt: skip


@router.get("/devices")
async def devices_page(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    return _devices_page(request, db, current=visitor.device)


@router.post("/devices")
async def add_device(
    request: Request,
    db: DB,
    visitor: AdminVisitor,
    name: Annotated[str, Form(max_length=200)],
    kind: Annotated[str, Form(max_length=20)],
    usage: Annotated[str, Form(max_length=10)],
    owner: Annotated[int | None, Form()] = None,
    acquired: Annotated[str, Form(max_length=10)] = "",
    lifetime_years: Annotated[int | None, Form()] = None,
) -> Response:
    try:
        if usage not in ("shared", "personal"):
            raise BadRequest("Say whether the device is shared or personal.")
        try:
            acquired_on = date.fromisoformat(acquired) if acquired else None
        except ValueError:
            raise BadRequest("The acquisition date must look like 2021-03-15.") from None
        owner_member = members.get_member(db, owner) if owner and usage == "personal" else None
        devices.add_device(
            db, name, kind, usage == "shared", owner=owner_member,
            acquired_on=acquired_on, lifetime_years=lifetime_years,
        )  # fmt: skip
    except HameauError as failure:
        message = failure.render(request.app.state.pages.gettext(request))
        return _devices_page(request, db, failure.status, error=message, current=visitor.device)
    return RedirectResponse("/admin/devices?done=device-added", status_code=303)


@router.post("/devices/{device_id}/enrol")
async def enrol_this_browser(
    request: Request,
    db: DB,
    visitor: AdminVisitor,
    device_id: RowId,
    replace: Annotated[bool, Form()] = False,
) -> Response:
    """Enrols the admin's browser; if another holds the device, only once the admin said so."""
    device = devices.get_device(db, device_id)
    if not replace and devices.enrolled_elsewhere(device, visitor.device_secret):
        return _devices_page(request, db, 409, replacing=device, current=visitor.device)
    secret = devices.enrol(device)
    response = RedirectResponse("/admin/devices?done=enrolled", status_code=303)
    set_device_cookie(request, response, secret)
    return response


@router.post("/devices/{device_id}/link")
async def enrolment_link(
    request: Request, db: DB, visitor: AdminVisitor, device_id: RowId
) -> Response:
    device = devices.get_device(db, device_id)
    code = devices.create_enrol_code(device)
    link = str(request.url_for("enrol_confirm").include_query_params(code=code))
    return _devices_page(request, db, link=link, link_device=device, current=visitor.device)


@router.post("/devices/{device_id}/retire")
async def retire_device(db: DB, visitor: AdminVisitor, device_id: RowId) -> Response:
    devices.retire(devices.get_device(db, device_id))
    return RedirectResponse("/admin/devices?done=retired", status_code=303)

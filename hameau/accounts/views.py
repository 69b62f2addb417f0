"""A member's own pages: profile and language, password, sessions by device, app passwords."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hameau.accounts import admin, agents, login, members, sessions, tokens, workspace
from hameau.errors import N_, BadRequest, HameauError
from hameau.web.auth import DB, MemberVisitor, Visitor, member_of
from hameau.web.openapi import RowId

router = APIRouter(include_in_schema=False)
router.include_router(admin.router)

NOTICES = {
    "language": N_("Language saved."),
    "password": N_("Password changed."),
    "revoked": N_("Session ended."),
    "token-revoked": N_("App password revoked."),
}


def render(
    request: Request, visitor: Visitor, db: DB, template: str, title: str, **context: object
) -> Response:
    """A member page, remembered as the member's place to resume from."""
    pages = request.app.state.pages
    gettext = pages.gettext(request)
    if visitor.login is not None:
        workspace.remember(db, visitor.login, "account", request.url.path, title=gettext(title))
    notice = NOTICES.get(request.query_params.get("done", ""))
    context.update(title=title, notice=notice)
    status = int(str(context.pop("status", 200)))
    return pages.render(request, template, context, status)


@router.get("/account")
async def account_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    return render(request, visitor, db, "account.html", N_("My account"), member=member_of(visitor))


@router.post("/account/language")
async def change_language(
    db: DB, visitor: MemberVisitor, language: Annotated[str, Form(max_length=8)]
) -> Response:
    members.set_locale(member_of(visitor), language)
    return RedirectResponse("/account?done=language", status_code=303)


@router.post("/account/password")
async def change_password(
    request: Request,
    db: DB,
    visitor: MemberVisitor,
    current: Annotated[str, Form(max_length=1024)],
    password: Annotated[str, Form(max_length=1024)],
    password_again: Annotated[str, Form(max_length=1024)],
) -> Response:
    member = member_of(visitor)
    try:
        await members.authenticate(db, member.name, current)
        if password != password_again:
            raise BadRequest("The two passwords differ.")
        members.set_password(member, password)
    except HameauError as failure:
        message = failure.render(request.app.state.pages.gettext(request))
        return render(
            request, visitor, db, "account.html", N_("My account"),
            member=member, error=message, status=400,
        )  # fmt: skip
    return RedirectResponse("/account?done=password", status_code=303)


@router.get("/account/export")
async def export_environment(request: Request, visitor: MemberVisitor) -> Response:
    """The member's whole environment as one archive (see hameau/export.py)."""
    import tempfile
    from pathlib import Path

    import anyio.to_thread
    from starlette.background import BackgroundTask
    from starlette.responses import FileResponse

    export_member = request.app.state.export_member  # the assembly's (hameau/app.py)
    member = member_of(visitor)
    folder = Path(tempfile.mkdtemp(prefix="hameau-export-"))
    out = folder / f"hameau-{member.name}.zip"
    await anyio.to_thread.run_sync(export_member, request.app.state.node, member.id, out)

    def clean() -> None:
        out.unlink(missing_ok=True)
        folder.rmdir()

    return FileResponse(
        out, filename=out.name, media_type="application/zip", background=BackgroundTask(clean)
    )


@router.get("/account/sessions")
async def sessions_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    live = sessions.list_for_member(db, member_of(visitor), request.app.state.lifetimes)
    current = visitor.login.id if visitor.login else None
    # Parts add sections (visits from other homes), listing some sessions there instead.
    sections = [part(request, db, visitor) for part in request.app.state.session_sections]
    apart = {found for _, ids in sections for found in ids}
    return render(
        request, visitor, db, "sessions.html", N_("My sessions"),
        logins=[login for login in live if login.id not in apart], current=current,
        describe_agent=agents.describe, sections=[Markup(html) for html, _ in sections],  # noqa: S704 (autoescaped)
    )  # fmt: skip


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_session(
    request: Request, db: DB, visitor: MemberVisitor, session_id: RowId
) -> Response:
    ended = sessions.revoke_for_member(db, member_of(visitor), session_id)
    if visitor.login is not None and ended.id == visitor.login.id:
        return await login.logout(request, db, visitor)
    if request.headers.get("hx-request"):
        return HTMLResponse("")  # htmx removes the row
    return RedirectResponse("/account/sessions?done=revoked", status_code=303)


@router.get("/account/tokens")
async def tokens_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    listed = tokens.list_tokens(db, member_of(visitor))
    return render(request, visitor, db, "tokens.html", N_("App passwords"), tokens=listed)


@router.post("/account/tokens")
async def create_token(
    request: Request, db: DB, visitor: MemberVisitor, label: Annotated[str, Form(max_length=200)]
) -> Response:
    member = member_of(visitor)
    token, secret = tokens.create_token(db, member, label)
    listed = tokens.list_tokens(db, member)
    return render(
        request, visitor, db, "tokens.html", N_("App passwords"),
        tokens=listed, new_token=token, new_secret=secret,
    )  # fmt: skip


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(db: DB, visitor: MemberVisitor, token_id: RowId) -> Response:
    tokens.revoke_token(db, token_id, member=member_of(visitor))
    return RedirectResponse("/account/tokens?done=token-revoked", status_code=303)

"""Getting in and out: first-run setup, login (with the shared-device picker), logout,
idle logout, and enrolling a browser as a device.

Before login the node sets no cookie at all, and logout clears every cookie and all
storage of the node in the browser (Clear-Site-Data). An enrolled device keeps being
recognised after logout because the logout redirect carries its credential in the
login address, which the login form hands back; the access log never shows it.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.accounts import devices, members, sessions
from hameau.accounts.models import Device
from hameau.errors import BadRequest, Forbidden, HameauError, TooManyRequests
from hameau.web.auth import (
    DB,
    DEVICE_COOKIE,
    AnyVisitor,
    Visitor,
    client_address,
    is_loopback,
    set_device_cookie,
    set_session_cookie,
)
from hameau.web.csrf import SESSION_COOKIE

router = APIRouter(include_in_schema=False)

CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


def safe_next(target: str | None) -> str:
    """Only paths on this node: never another site (//host, /\\host, a scheme)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 32 for char in target) or len(target) > 500:
        return "/"
    return target


def login_url(device_secret: str | None = None, **params: str) -> str:
    query = {key: value for key, value in params.items() if value}
    if device_secret:
        query["device"] = device_secret
    return "/login" + (f"?{urlencode(query)}" if query else "")


def _device(db: DB, visitor: Visitor, given_secret: str) -> tuple[Device | None, str | None]:
    """The device from its cookie, else from the credential handed back by the login page."""
    if visitor.device is not None and visitor.device_secret:
        return visitor.device, visitor.device_secret
    if given_secret:
        device = devices.recognise(db, given_secret)
        if device is None:
            raise BadRequest(
                "This login address names a device the node does not know; open /login instead."
            )
        return device, given_secret
    return visitor.device, visitor.device_secret


def _login_page(
    request: Request,
    db: DB,
    device: Device | None,
    device_secret: str | None,
    *,
    next_path: str,
    chosen: str = "",
    error: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    pages = request.app.state.pages
    picker = bool(device and device.shared)
    people = members.list_members(db, active_only=True) if picker else []
    chosen_member = next((person for person in people if person.name == chosen), None)
    context = {
        "device": device,
        "device_secret": device_secret or "",
        "picker": picker and chosen_member is None,
        "people": people,
        "chosen": chosen_member,
        "name": chosen,
        "next": next_path,
        "error": error,
        "login_url": login_url,
    }
    return pages.render(request, "login.html", context, status, headers)


@router.get("/login")
async def login_form(
    request: Request,
    db: DB,
    visitor: AnyVisitor,
    next: Annotated[str, Query(max_length=500)] = "/",
    device: Annotated[str, Query(max_length=100)] = "",
    member: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    if members.count_members(db) == 0:
        return RedirectResponse("/setup", status_code=303)
    if visitor.member is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    found, secret = _device(db, visitor, device)
    return _login_page(request, db, found, secret, next_path=safe_next(next), chosen=member)


@router.post("/login")
async def login(
    request: Request,
    db: DB,
    visitor: AnyVisitor,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=500)] = "/",
    device: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    limiter = request.app.state.limiter
    address = client_address(request)
    account = name.strip().lower()
    found, secret = _device(db, visitor, device)
    wait = limiter.retry_after(account, address)
    gettext = request.app.state.pages.gettext(request)
    if wait:
        error = TooManyRequests(
            "Too many failed logins; try again in %(seconds)s seconds.",
            headers={"Retry-After": str(wait)},
            seconds=wait,
        )
        return _login_page(
            request, db, found, secret, next_path=safe_next(next), chosen=account,
            error=error.render(gettext), status=429, headers=error.headers,
        )  # fmt: skip
    try:
        member = await members.authenticate(db, account, password)
    except HameauError as failure:
        limiter.failed(account, address)
        return _login_page(
            request, db, found, secret, next_path=safe_next(next), chosen=account,
            error=failure.render(gettext), status=failure.status,
        )  # fmt: skip
    limiter.succeeded(account)
    login_session, session_secret = sessions.create_session(
        db,
        member,
        found,
        request.app.state.lifetimes,
        user_agent=request.headers.get("user-agent", ""),
        address=address,
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, session_secret, login_session.shared)
    if secret and not request.cookies.get(DEVICE_COOKIE):
        set_device_cookie(request, response, secret)
    return response


def _ended(visitor: Visitor) -> Response:
    """The answer that ends a browser session: back to login, with nothing left behind."""
    target = login_url(visitor.device_secret if visitor.device else None)
    response = RedirectResponse(target, status_code=303)
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(DEVICE_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(db: DB, visitor: AnyVisitor) -> Response:
    if visitor.login is not None:
        sessions.revoke(visitor.login)
    return _ended(visitor)


@router.get("/session/idle")
async def idle_check(
    request: Request,
    db: DB,
    visitor: AnyVisitor,
    back: Annotated[str, Query(max_length=500)] = "/",
) -> Response:
    """Where a shared device's page goes after its idle time: out, unless it was active."""
    if visitor.login is not None:
        return RedirectResponse(safe_next(back), status_code=303)
    ended = sessions.find_by_secret(db, request.cookies.get(SESSION_COOKIE, ""))
    if ended is not None:
        sessions.revoke(ended)
    return _ended(visitor)


def _setup_page(request: Request, error: str = "", status: int = 200, **values: str) -> Response:
    context = {"error": error, "needs_code": not is_loopback(request), **values}
    return request.app.state.pages.render(request, "setup.html", context, status)


@router.get("/setup")
async def setup_form(request: Request, db: DB) -> Response:
    if members.count_members(db) > 0:
        return RedirectResponse("/login", status_code=303)
    return _setup_page(request)


@router.post("/setup")
async def setup(
    request: Request,
    db: DB,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    password_again: Annotated[str, Form(max_length=1024)],
    display_name: Annotated[str, Form(max_length=200)] = "",
    code: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Creates the first admin; only from loopback, or with the code `serve` printed."""
    state = request.app.state
    gettext = state.pages.gettext(request)
    address = client_address(request)
    if not is_loopback(request):
        wait = state.limiter.retry_after("(setup)", address)
        if wait:
            raise TooManyRequests(
                "Too many wrong setup codes; try again in %(seconds)s seconds.",
                headers={"Retry-After": str(wait)},
                seconds=wait,
            )
        expected = state.setup_code or ""
        if not expected or not hmac.compare_digest(code.strip().encode(), expected.encode()):
            state.limiter.failed("(setup)", address)
            raise Forbidden(
                "Wrong setup code; use the one `hameau serve` printed, or open this page"
                " on the node itself."
            )
    # No await from here to the commit: on the event loop, two setups cannot interleave.
    if members.count_members(db) > 0:
        raise Forbidden("This node already has an admin; log in instead.")
    if password != password_again:
        return _setup_page(
            request, gettext("The two passwords differ."), 400, name=name,
            display_name=display_name,
        )  # fmt: skip
    try:
        admin = members.add_member(
            db,
            name,
            password,
            display_name=display_name,
            admin=True,
            quota_bytes=state.node.settings.default_quota_mb * 1024 * 1024,
            locale=state.pages.locale_for(request),
        )
    except HameauError as failure:
        return _setup_page(
            request, failure.render(gettext), failure.status, name=name,
            display_name=display_name,
        )  # fmt: skip
    db.commit()
    state.setup_code = None
    _, secret = sessions.create_session(
        db, admin, None, state.lifetimes,
        user_agent=request.headers.get("user-agent", ""), address=address,
    )  # fmt: skip
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, secret, shared=False)
    return response


@router.get("/devices/enrol")
async def enrol_confirm(
    request: Request, db: DB, code: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    """A GET never enrols (link previews would); it asks for a click."""
    device = devices.pending_enrolment(db, code)
    return request.app.state.pages.render(request, "enrol.html", {"device": device, "code": code})


@router.post("/devices/enrol")
async def enrol(request: Request, db: DB, code: Annotated[str, Form(max_length=100)]) -> Response:
    _, secret = devices.enrol_with_code(db, code)
    response = RedirectResponse("/login", status_code=303)
    set_device_cookie(request, response, secret)
    return response

"""Getting in and out: first-run setup, login (with the shared-device picker), logout,
idle logout, and enrolling a browser as a device.

Before login the node sets no cookie at all, except on an enrolled device: its device
cookie holds the device's credential and nothing of any member, so it survives logout (a
bookmark or a restarted browser still gets the "who is it?" picker and a short idle
session). Logout ends the session on the node, expires the session cookie and asks the
browser to drop the node's cache and storage (Clear-Site-Data without "cookies", which
would wipe the device cookie too). The device credential never appears in an address.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from hameau.accounts import devices, members, sessions
from hameau.accounts.models import Device, Member
from hameau.errors import BadRequest, Forbidden, HameauError, TooManyRequests
from hameau.web.auth import (
    DB,
    DEVICE_COOKIE,
    AnyVisitor,
    MemberVisitor,
    Visitor,
    client_address,
    is_loopback,
    set_device_cookie,
    set_session_cookie,
)
from hameau.web.csrf import SESSION_COOKIE

router = APIRouter(include_in_schema=False)

CLEAR_SITE_DATA = '"cache", "cookies", "storage"'
# An enrolled device's browser: not "cookies", which would wipe the device cookie too; the
# session cookie is expired by name instead.
CLEAR_SITE_DATA_KEEP_DEVICE = '"cache", "storage"'


def safe_next(target: str | None) -> str:
    """Only paths on this node: never another site (//host, /\\host, a scheme)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 32 for char in target) or len(target) > 500:
        return "/"
    return target


def login_url(**params: str) -> str:
    query = {key: value for key, value in params.items() if value}
    return "/login" + (f"?{urlencode(query)}" if query else "")


def _from_old_address(
    request: Request, db: DB, secret: str, next_path: str, member: str
) -> Response:
    """A login address made before device cookies survived logout: back to a cookie."""
    device = devices.recognise(db, secret)
    if device is None:
        raise BadRequest(
            "This login address names a device the home server does not know; open /login instead."
        )
    response = RedirectResponse(
        login_url(next=next_path if next_path != "/" else "", member=member), status_code=303
    )
    set_device_cookie(request, response, secret)
    return response


def _login_page(
    request: Request,
    db: DB,
    device: Device | None,
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
    if device and visitor.device is None:
        return _from_old_address(request, db, device, safe_next(next), member)
    return _login_page(request, db, visitor.device, next_path=safe_next(next), chosen=member)


@router.post("/login/pick")
async def pick(
    request: Request,
    db: DB,
    visitor: AnyVisitor,
    member: Annotated[str, Form(max_length=40)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """The picker's choice, posted so that no member's name lands in the browser's history."""
    if visitor.member is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, db, visitor.device, next_path=safe_next(next), chosen=member)


async def check_password(
    request: Request, db: DB, name: str, password: str, *, moved_ok: bool = False
) -> Member:
    """The member these credentials name, under the login limits: TooManyRequests while the
    account or the address is locked out, else the authentication's error (counted as a
    failure). Every sign-in with a password goes through here (the login form, a visit's).
    A member whose home is another node now is refused, saying where (unless `moved_ok`)."""
    limiter = request.app.state.limiter
    address = client_address(request)
    account = name.strip().lower()
    wait = limiter.retry_after(account, address)
    if wait:
        raise TooManyRequests(
            "Too many failed logins; try again in %(seconds)s seconds.",
            headers={"Retry-After": str(wait)},
            seconds=wait,
        )
    try:
        member = await members.authenticate(db, account, password)
    except HameauError:
        limiter.failed(account, address)
        raise
    limiter.succeeded(account)
    if member.moved_to and not moved_ok:
        raise Forbidden(
            "Your home is now the home server at %(home)s: sign in there.", home=member.moved_to
        )
    return member


@router.post("/login")
async def login(
    request: Request,
    db: DB,
    visitor: AnyVisitor,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    address = client_address(request)
    account = name.strip().lower()
    found = visitor.device
    gettext = request.app.state.pages.gettext(request)
    try:
        member = await check_password(request, db, account, password, moved_ok=True)
    except HameauError as failure:
        return _login_page(
            request, db, found, next_path=safe_next(next), chosen=account,
            error=failure.render(gettext), status=failure.status, headers=failure.headers,
        )  # fmt: skip
    if member.moved_to:  # their home is another node now (moving home): log in there
        return RedirectResponse(f"{member.moved_to}/login", status_code=303)
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
    return response


def _ended(request: Request, visitor: Visitor) -> Response:
    """The answer that ends a browser session: back to login, nothing of the member left.

    An enrolled device keeps its cookie (set again in the same answer, for a browser that
    reads Clear-Site-Data loosely); any other browser keeps no cookie of the node at all.
    """
    response = RedirectResponse("/login", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(SESSION_COOKIE, path="/")
    if visitor.device_secret and request.cookies.get(DEVICE_COOKIE) == visitor.device_secret:
        response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA_KEEP_DEVICE
        set_device_cookie(request, response, visitor.device_secret)
    else:
        response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


@router.post("/logout")
async def logout(request: Request, db: DB, visitor: AnyVisitor) -> Response:
    if visitor.login is not None:
        sessions.revoke(visitor.login)
    return _ended(request, visitor)


@router.post("/session/alive")
async def alive(
    request: Request,
    db: DB,
    visitor: MemberVisitor,
    active: Annotated[bool, Form()] = False,
) -> Response:
    """For idle.js: the member was active (or not) here; how long the session has left."""
    if visitor.login is None:  # an app password: no browser session to keep alive
        raise BadRequest("Only a browser session can be kept alive.")
    lifetimes = request.app.state.lifetimes
    if active:
        sessions.touch(visitor.login, lifetimes)
    left = sessions.seconds_left(visitor.login, lifetimes)
    idle = lifetimes.idle(visitor.login).total_seconds()
    return JSONResponse({"left": round(left, 1), "idle": idle})


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
    return _ended(request, visitor)


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
                " on the home server itself."
            )
    # No await from here to the commit: on the event loop, two setups cannot interleave.
    if members.count_members(db) > 0:
        raise Forbidden("This home server already has an admin; log in instead.")
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


def _enrol_page(
    request: Request, device: Device, code: str, taken: bool, status: int = 200
) -> Response:
    context = {"device": device, "code": code, "taken": taken}
    return request.app.state.pages.render(request, "enrol.html", context, status)


@router.get("/devices/enrol")
async def enrol_confirm(
    request: Request, db: DB, code: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    """A GET never enrols (link previews would); it asks for a click."""
    device = devices.pending_enrolment(db, code)
    taken = devices.enrolled_elsewhere(device, request.cookies.get(DEVICE_COOKIE))
    return _enrol_page(request, device, code, taken)


@router.post("/devices/enrol")
async def enrol(
    request: Request,
    db: DB,
    code: Annotated[str, Form(max_length=100)],
    replace: Annotated[bool, Form()] = False,
) -> Response:
    """Enrols this browser; if another holds the device, only once the visitor said so."""
    device = devices.pending_enrolment(db, code)
    if not replace and devices.enrolled_elsewhere(device, request.cookies.get(DEVICE_COOKIE)):
        return _enrol_page(request, device, code, taken=True, status=409)
    secret = devices.enrol(device)
    response = RedirectResponse("/login", status_code=303)
    set_device_cookie(request, response, secret)
    return response

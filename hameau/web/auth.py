"""Who is asking: the database session of a request, the visitor, and the route guards.

A visitor is known by a session cookie (browsers), or by an app password sent as a
Bearer token or as HTTP Basic credentials (clients). A browser may also be an enrolled
device, known by its long-lived device cookie.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from hameau.accounts import devices, sessions, tokens
from hameau.accounts.models import AppToken, Device, LoginSession, Member
from hameau.errors import BadRequest, Forbidden, Unauthorized
from hameau.web.csrf import SESSION_COOKIE, VISIT_SESSION
from hameau.web.errors import storage_full
from hameau.web.i18n import choose_locale

DEVICE_COOKIE = "hameau_device"
DEVICE_COOKIE_DAYS = 400
# Sent by scripts that ask on their own (idle.js checking the time left): not the member's
# activity, so it does not push back a shared device's idle logout.
PASSIVE_HEADER = "x-hameau-passive"


class LoginRequired(Unauthorized):
    """No one is logged in: browsers are sent to the login page, clients get 401."""


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One database session per request, committed when the route returns without error.

    Routes are async and use it on the event loop: their queries take well under a
    millisecond on SQLite, so the node saves the thread hops (a third of its time per page
    in bench/pages.py) and SQLite sees one writer at a time. Slow CPU work (Argon2) goes
    to a worker thread.
    """
    with request.app.state.node.sessions() as session:
        try:
            yield session
            try:
                session.commit()
            except OperationalError as error:
                # A read whose only write was the visitor's last-seen time: served on a full disk.
                if request.method not in ("GET", "HEAD") or not storage_full(error):
                    raise
                session.rollback()
        except BaseException:
            # Detach first: the error page may still show the visitor, which a rollback
            # would expire.
            session.expunge_all()
            session.rollback()
            raise


DB = Annotated[Session, Depends(get_db, scope="function")]


@dataclass
class Visitor:
    member: Member | None = None
    login: LoginSession | None = None
    device: Device | None = None
    device_secret: str | None = None
    token: AppToken | None = None  # the app password the request came with, if any

    @property
    def on_shared_device(self) -> bool:
        return bool(self.device and self.device.shared)

    @property
    def on_shared_session(self) -> bool:
        """Whether the browser's history must keep nothing of the member (titles, addresses)."""
        return self.on_shared_device or bool(self.login and self.login.shared)


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def is_loopback(request: Request) -> bool:
    try:
        return ipaddress.ip_address(client_address(request)).is_loopback
    except ValueError:
        return False


def _from_authorization(db: Session, header: str) -> AppToken:
    scheme, _, value = header.partition(" ")
    secret = ""
    name = None
    if scheme.lower() == "bearer":
        secret = value.strip()
    elif scheme.lower() == "basic":
        try:
            name, _, secret = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            secret = ""
    token = tokens.live_token(db, secret) if secret else None
    if token is None or (name is not None and name.strip().lower() != token.member.name):
        raise Unauthorized(
            "This app password is unknown or revoked; create one with `hameau token create`.",
            headers={"WWW-Authenticate": 'Basic realm="hameau", charset="UTF-8"'},
        )
    return token


def resolve_visitor(request: Request, db: Session) -> Visitor:
    if hasattr(request.state, "visitor"):
        return request.state.visitor
    app_state = request.app.state
    visitor = Visitor()
    # A visit from another home (its session set by the part that checked it): no cookie
    # and no app password of the terminal counts.
    visit_secret = request.scope.get(VISIT_SESSION)
    device_secret = None if visit_secret else request.cookies.get(DEVICE_COOKIE)
    if device_secret:
        visitor.device = devices.recognise(db, device_secret)
        if visitor.device is None:
            raise BadRequest(
                "This browser was enrolled as a device the home server does not know (any more);"
                " reload the page, and ask an admin to enrol it again if needed.",
                headers={"Set-Cookie": f"{DEVICE_COOKIE}=; Max-Age=0; Path=/; HttpOnly"},
            )
        visitor.device_secret = device_secret
    authorization = None if visit_secret else request.headers.get("authorization")
    if authorization:
        visitor.token = _from_authorization(db, authorization)
        visitor.member = visitor.token.member
    else:
        session_secret = visit_secret or request.cookies.get(SESSION_COOKIE)
        if session_secret:
            active = request.headers.get(PASSIVE_HEADER) != "1"
            login = sessions.resolve(db, session_secret, app_state.lifetimes, active=active)
            if login is not None:
                visitor.login = login
                visitor.member = login.member
                visitor.device = visitor.device or login.device
    request.state.visitor = visitor
    request.state.locale = choose_locale(
        visitor.member.locale if visitor.member else None,
        request.headers.get("accept-language", ""),
        app_state.node.settings.default_locale,
    )
    return visitor


async def get_visitor(request: Request, db: DB) -> Visitor:
    return resolve_visitor(request, db)


async def get_member(request: Request, db: DB) -> Visitor:
    visitor = resolve_visitor(request, db)
    if visitor.member is None:
        raise LoginRequired("Please log in first.")
    return visitor


async def get_admin(request: Request, db: DB) -> Visitor:
    visitor = await get_member(request, db)
    assert visitor.member is not None
    if not visitor.member.is_admin:
        raise Forbidden("Only the home server's admins can do this.")
    return visitor


def member_of(visitor: Visitor) -> Member:
    """The logged-in member of a route guarded by MemberVisitor or AdminVisitor."""
    assert visitor.member is not None
    return visitor.member


AnyVisitor = Annotated[Visitor, Depends(get_visitor)]
MemberVisitor = Annotated[Visitor, Depends(get_member)]
AdminVisitor = Annotated[Visitor, Depends(get_admin)]


def set_session_cookie(request: Request, response: Response, secret: str, shared: bool) -> None:
    lifetimes = request.app.state.lifetimes
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=None if shared else int(lifetimes.absolute.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def set_device_cookie(request: Request, response: Response, secret: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        secret,
        max_age=DEVICE_COOKIE_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )

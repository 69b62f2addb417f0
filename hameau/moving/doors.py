"""The doors of a member who moved or is moving: what every entry point of the node does with
`Member.frozen_at` and `Member.moved_to`.

- **Frozen** (the move's final phase): every write of that member, through any door (pages,
  JSON APIs, WebDAV, CalDAV, travel's sync, the AI's API), is refused with 503, a
  `Retry-After` and one sentence; nothing is written; reads go on.
- **Moved** (this node is no longer their home): the requests their credentials make (app
  password, session or device cookie, a visit's session) and the addresses that name them
  (`/dav/cal/NAME/…`) answer a permanent redirect (308, the method kept) to the same address
  at their new home, with the `Hameau-Moved-To` header naming it. The copy kept here for the
  rollback window is read by no one.

One ASGI middleware of the "moving" part does it for every door, so no door can forget: the
body is already read (web.middleware.SmallBodies), the CSRF check comes after. A request with
no credential and no member's address costs nothing; the others one small query (the members
away), and a second (their credential's owner) only while someone is away.

`freeze`, `unfreeze`, `mark_moved` and `mark_home` are the only writers of these columns: the
move's protocol (move-core) calls them inside its own transactions.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hameau.accounts.models import AppToken, LoginSession, Member
from hameau.accounts.secrets import digest
from hameau.errors import N_, BadRequest, HameauError
from hameau.moving.errors import MemberFrozen, MemberMoved
from hameau.node import json_input
from hameau.node.datadir import Node
from hameau.node.db import utcnow
from hameau.web.csrf import SESSION_COOKIE, VISIT_SESSION
from hameau.web.errors import error_response
from hameau.web.middleware import SAFE_METHODS

RETRY_AFTER_SECONDS = 60
MOVED_HEADER = "Hameau-Moved-To"
READS = SAFE_METHODS | {"REPORT"}  # CalDAV's REPORT only reads
# POSTs that only read (a search, a satellite asking what home has, idle.js's keep-alive):
# they go on while frozen.
READ_POSTS = (
    "/search", "/session/alive", "/api/travel/blobs/missing", "/api/travel/blobs/fetch",
)  # fmt: skip
# Never forwarded nor refused: the node's own assets, ending a session here, node-to-node calls
# (the move's protocol itself), health and metrics.
LOCAL = ("/static/", "/logout", "/api/hamlet/", "/healthz", "/metrics")
CALDAV = "/dav/cal/"
# The pages that start, follow or undo a move: their answer is about the move itself (its
# worker may freeze the member before the answer goes out), not a write of the member's data.
CONTROLS = ("/account/move", "/moves/")
ENROL = "/api/travel/satellites"
FROZEN = N_("Your things are moving to another home; try again in a minute.")
MOVED = N_("This address has moved to %(home)s, the member's home now.")


@dataclass(frozen=True)
class Away:
    """A member whose writes are not taken here: frozen, or moved to another home."""

    id: int
    name: str
    frozen: bool
    moved_to: str | None


def home_address(to: str) -> str:
    """A node's base address (https://host[:port][/prefix]), without the trailing slash."""
    parts = urlsplit(to.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise BadRequest("A home's address starts with https:// (or http://) and has a host.")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def freeze(session: Session, member: Member, at: datetime | None = None) -> None:
    """The move's final phase begins: the member's writes are refused from the commit on."""
    member.frozen_at = at or utcnow()
    session.flush()


def unfreeze(session: Session, member: Member) -> None:
    """Writes are taken again here (a move that did not happen)."""
    member.frozen_at = None
    session.flush()


def mark_moved(session: Session, member: Member, to: str, at: datetime | None = None) -> None:
    """The switch, on the node the member left: their home is now ``to``; the rollback
    window starts; the freeze ends (the doors forward from now on)."""
    member.moved_to = home_address(to)
    member.moved_at = at or utcnow()
    member.frozen_at = None
    session.flush()


def mark_home(session: Session, member: Member) -> None:
    """A rollback, on the node the member comes back to: this is their home again."""
    member.moved_to = None
    member.moved_at = None
    member.frozen_at = None
    session.flush()


def members_away(session: Session) -> dict[str, Away]:
    """The members frozen or moved, by name (usually none)."""
    query = select(Member.id, Member.name, Member.frozen_at, Member.moved_to).where(
        Member.frozen_at.is_not(None) | Member.moved_to.is_not(None)
    )
    return {
        row.name: Away(row.id, row.name, row.frozen_at is not None, row.moved_to)
        for row in session.execute(query)
    }


# The same queries as `members_away` and `Watch.owner`'s, on the raw SQLite connection.
AWAY_SQL = (
    "SELECT id, name, frozen_at IS NOT NULL, moved_to FROM members"
    " WHERE frozen_at IS NOT NULL OR moved_to IS NOT NULL"
)
OWNER_SQL = {
    AppToken: "SELECT member_id FROM app_tokens WHERE token_hash = ?",
    LoginSession: "SELECT member_id FROM login_sessions WHERE token_hash = ?",
}


class Watch:
    """Who is away and whose credential a request carries, for every request: cheap.

    On SQLite, one read-only connection of its own asks `PRAGMA data_version` (a few
    microseconds), which changes as soon as any other connection, of this process or
    another (`hameau move` on the command line), commits: the members away are read again
    only then, never stale. Elsewhere (PostgreSQL), a query per request.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self.version: int | None = None
        self.found: dict[str, Away] = {}
        self.connection: sqlite3.Connection | None = None
        if node.engine.dialect.name == "sqlite":
            where = f"file:{node.layout.database}?mode=ro"
            # Autocommit, every statement read to its end: no read transaction is left open
            # to hold back the WAL's checkpoints. Used from the event loop only, one at a time.
            self.connection = sqlite3.connect(
                where, uri=True, isolation_level=None, check_same_thread=False
            )

    def away(self) -> dict[str, Away]:
        if self.connection is None:
            with self.node.sessions() as session:
                return members_away(session)
        version = self.connection.execute("PRAGMA data_version").fetchall()[0][0]
        if version != self.version:
            rows = self.connection.execute(AWAY_SQL).fetchall()
            self.found = {row[1]: Away(row[0], row[1], bool(row[2]), row[3]) for row in rows}
            self.version = version
        return self.found

    def owner(self, table: type[AppToken] | type[LoginSession], secret: str) -> int | None:
        """The member whose app password or session this secret is."""
        if self.connection is None:
            with self.node.sessions() as session:
                query = select(table.member_id).where(table.token_hash == digest(secret))
                return session.scalar(query)
        rows = self.connection.execute(OWNER_SQL[table], (digest(secret),)).fetchall()
        return int(rows[0][0]) if rows else None


def _basic_name(value: str) -> str | None:
    try:
        return base64.b64decode(value.strip()).decode().partition(":")[0].strip().lower()
    except (binascii.Error, UnicodeDecodeError):
        return None


def credential_member(
    watch: Watch, scope: Scope, headers: Headers, away: dict[str, Away]
) -> Away | None:
    """The member away whose credential this request carries, if any (a wrong password is
    refused later by the door itself; a name alone says whose write it would be)."""
    by_id = {each.id: each for each in away.values()}
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if not scope.get(VISIT_SESSION) and scheme.lower() == "basic":
        return away.get(_basic_name(value) or "")
    if not scope.get(VISIT_SESSION) and scheme.lower() == "bearer" and value.strip():
        return by_id.get(watch.owner(AppToken, value.strip()) or 0)
    secret = scope.get(VISIT_SESSION) or Request(scope).cookies.get(SESSION_COOKIE)
    return by_id.get(watch.owner(LoginSession, secret) or 0) if secret else None


def path_member(path: str, away: dict[str, Away]) -> Away | None:
    """The member an address names (CalDAV's /dav/cal/NAME/…)."""
    if not path.startswith(CALDAV):
        return None
    return away.get(unquote(path[len(CALDAV) :].partition("/")[0]).lower())


def enrolling_member(scope: Scope, away: dict[str, Away]) -> Away | None:
    """A satellite packed at the old home: the member named in the body."""
    if scope["method"] != "POST" or scope["path"].rstrip("/") != ENROL:
        return None
    try:
        found = json_input.loads(scope.get("hameau.body", b"") or b"{}")
    except ValueError:
        return None
    name = found.get("member") if isinstance(found, dict) else None
    return away.get(name.strip().lower()) if isinstance(name, str) else None


def writes(scope: Scope) -> bool:
    method, path = scope["method"], scope["path"]
    if method in READS:
        return False
    read_post = path.startswith("/api/travel/files/") and path.endswith("/states")
    return not (method == "POST" and (path in READ_POSTS or read_post))


def _concerns(scope: Scope, headers: Headers) -> bool:
    """Whether a member away could be behind this request at all (else: no query)."""
    path = scope["path"]
    if path.startswith(LOCAL):
        return False
    if "signature" in headers and not scope.get(VISIT_SESSION):
        return False  # a node's signed call: the move's protocol, never a member's door
    return bool(
        "authorization" in headers
        or "cookie" in headers
        or scope.get(VISIT_SESSION)
        or path.startswith(CALDAV)
        or path.rstrip("/") == ENROL
    )


def forwarded(scope: Scope, to: str) -> MemberMoved:
    """The 308 to the same address at the member's home."""
    query = scope.get("query_string", b"").decode("latin-1")
    # As the client sent it (percent-encoded): a header carries no "é".
    path = scope.get("raw_path", b"").decode("latin-1") or quote(scope["path"])
    target = to + scope.get("root_path", "") + path + (f"?{query}" if query else "")
    headers = {"Location": target, MOVED_HEADER: to}
    return MemberMoved(MOVED, headers=headers, home=to)


def refusal(watch: Watch, scope: Scope) -> HameauError | None:
    """What the doors answer instead of the app for this request, if anything."""
    headers = Headers(scope=scope)
    if not _concerns(scope, headers):
        return None
    away = watch.away()
    if not away:
        return None
    who = credential_member(watch, scope, headers, away)
    owner = path_member(scope["path"], away) or enrolling_member(scope, away)
    for each in (who, owner):
        if each is not None and each.moved_to:
            return forwarded(scope, each.moved_to)
    if writes(scope) and any(each is not None and each.frozen for each in (who, owner)):
        return MemberFrozen(FROZEN, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return None


class Doors:
    """The "moving" part's middleware: forwards a moved member's doors, holds a frozen one's
    writes (see the module's docstring)."""

    def __init__(self, app: ASGIApp, node: Node) -> None:
        self.app = app
        self.watch = Watch(node)

    def passes(self, scope: Scope) -> bool:
        """Whether this request goes on to the app untouched (`web/front.py`)."""
        return refusal(self.watch, scope) is None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            error = refusal(self.watch, scope)
            if error is not None:
                await answer(Request(scope, receive), error)(scope, receive, send)
                return
            moving_itself = scope["path"].startswith(CONTROLS)  # answers about the move
            if writes(scope) and not moving_itself and _concerns(scope, Headers(scope=scope)):
                send = self._confirmed(scope, receive, send)
        await self.app(scope, receive, send)

    def _confirmed(self, scope: Scope, receive: Receive, send: Send) -> Send:
        """A write's answer that would say it was done goes out only if its member is still
        home here once it is written. A write that passed the door just as a move froze the
        member may have committed after the move's last export read: it is then answered
        503 (or the 308 to the new home), not acknowledged, so the client sends it again
        there instead of its being lost. A freeze committed after this look comes after the
        write's commit too, and the last export then holds it."""
        replaced = False

        async def confirmed(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the app's own answer, dropped
            if message["type"] == "http.response.start" and message["status"] < 400:
                error = refusal(self.watch, scope)
                if error is not None:
                    replaced = True
                    await answer(Request(scope, receive), error)(scope, receive, send)
                    return
            await send(message)

        return confirmed


def answer(request: Request, error: HameauError) -> Response:
    """The refusal as every door says its errors: WebDAV and CalDAV clients show a plain
    sentence (rclone prints it), the pages a page, the APIs JSON."""
    if not request.url.path.startswith("/dav/"):
        return error_response(request, error)
    sentence = error.render(request.app.state.pages.gettext(request))
    return PlainTextResponse(sentence, status_code=error.status, headers=error.headers)

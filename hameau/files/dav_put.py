"""A WebDAV PUT of a file in `mine/` or `household/`, served in the event loop and a worker
thread instead of through WsgiDAV (a2wsgi's hop to its thread for each body piece, its
request machinery, two lookups of the path and three transactions).

Only a PUT that WsgiDAV would take as a plain write comes here, and its answer is the one
WsgiDAV gives: the same checks in the same order, the same lock manager, the files service's
plan and record, the same error pages. Whatever else, and every refusal known before the
body is read (no or a wrong password, no folder there, a folder at the path, an `If:`
header, a lock in the way, a failed If-Match, a quota the declared size exceeds), goes to
WsgiDAV untouched, which answers it as before.

A small new file (`small_put.taken`) is tried first in one hop: its body read, then one
batch of the group commit's writer thread checks and records it (`small_put`); whatever that
path does not take goes on here with its body given again, as if nothing had happened.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import functools
import posixpath
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from wsgidav import util
from wsgidav.dav_error import HTTP_CREATED, DAVError
from wsgidav.util import checked_etag

from hameau.accounts import tokens
from hameau.accounts.models import Member
from hameau.errors import HameauError
from hameau.files import paths, small_put
from hameau.files import service as files
from hameau.files.dav import CONDITIONAL, _Context, _Upload, lock_key, recorded
from hameau.files.models import FileEntry
from hameau.node import socket_body
from hameau.node.datadir import Node
from hameau.node.db import retrying
from hameau.node.socket_body import BodyCut, BodyTimedOut, SocketBody
from hameau.web.asgi import whole_body
from hameau.web.front import TRIED

PASS = object()  # the request goes on to WsgiDAV
HANDED_OVER = ("if", "content-encoding", "content-range", "x-oc-mtime")  # WsgiDAV's to judge
CONDITIONS = {  # b"if-match": "HTTP_IF_MATCH" …
    name.removeprefix("HTTP_").replace("_", "-").lower().encode(): name for name in CONDITIONAL
}


@dataclass
class Asked:
    """What a PUT asks, read from its scope."""

    top: str
    parts: list[str]
    user: str
    password: str
    declared: int | None
    content_type: str
    conditions: dict[str, str]  # If-Match and the like, as WSGI names them
    expects: bool = False  # `Expect: 100-continue`: the body only once the PUT is accepted


@dataclass
class Found:
    """What the PUT's one transaction found: who, where, and what is there already."""

    member: Member  # read by this transaction, detached after it
    plan: files.WritePlan
    new: bool
    etag: str | None  # the file replaced, None for a new file
    modified: float | None


def _basic(value: str) -> tuple[str, str] | None:
    """User and password of an `Authorization: Basic` header, read as WsgiDAV reads it."""
    if not value.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(value[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if _ else None


def asked(scope: dict[str, Any], mount: str) -> Asked | None:
    """The PUT to serve here, or None for WsgiDAV: a file under `mine/` or `household/`,
    a path WsgiDAV and the guard take as it is, Basic credentials, no header it must judge."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")  # ends with the mount (behind a proxy's prefix too)
    if scope["method"] != "PUT" or not root.endswith(mount) or not path.startswith(root + "/"):
        return None
    relative = path[len(root) :]
    if relative.endswith("/"):
        return None
    if posixpath.normpath(relative) != relative or any(ord(c) < 32 or ord(c) == 127 for c in path):
        return None  # '.', '..', '//', control characters: the guard's and WsgiDAV's answers
    top, _, rest = relative[1:].partition("/")
    if top not in ("mine", "household") or not rest:
        return None
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name, value)
    if any(name.encode() in headers for name in HANDED_OVER):
        return None
    try:
        parts = paths.split(rest)
        credentials = _basic(headers.get(b"authorization", b"").decode("latin-1"))
    except HameauError:
        return None
    declared = headers.get(b"content-length", b"").decode("latin-1")
    if credentials is None or (declared and not declared.isdigit()):
        return None
    conditions = {key: headers[name].decode("latin-1") for name, key in CONDITIONS.items()
                  if name in headers}  # fmt: skip
    kind = headers.get(b"content-type", b"").decode("latin-1").split(";")[0]
    size = int(declared) if declared else None
    return Asked(top, parts, *credentials, size, kind, conditions, b"expect" in headers)


def find(node: Node, put: Asked) -> Found | None:
    """One transaction: the app password, the path, and the write's plan (see
    `files.plan_in`); None when WsgiDAV must answer (a refusal, or nothing to write into)."""

    def work(session: Any) -> Found | None:
        member = tokens.login_member(session, put.user, put.password)
        if member is None or not member.active:
            return None
        where = files.space(member, put.top)
        folder: FileEntry | None = files.root(session, where)
        for name in put.parts[:-1]:
            folder = files.child(session, folder, name) if folder and folder.is_dir else None
        if folder is None or not folder.is_dir:
            return None
        existing = files.child(session, folder, put.parts[-1])
        if existing is not None and existing.is_dir:
            return None
        try:
            plan = files.plan_in(
                session, member, where, folder, put.parts[-1], existing, put.declared
            )
        except HameauError:
            return None
        if existing is None:
            return Found(member, plan, True, None, None)
        return Found(member, plan, False, existing.blob, existing.modified_at.timestamp())

    return retrying(node.sessions, work)  # type: ignore[no-any-return]


class _Replaced:
    """The file a PUT replaces, as WsgiDAV's conditions (If-Match …) ask about it."""

    def support_etag(self) -> bool:
        return True

    def support_modified(self) -> bool:
        return True


def conditions_hold(put: Asked, found: Found) -> bool:
    """If-Match, If-None-Match, If-(Un)Modified-Since, judged by WsgiDAV's own function
    (as its PUT does: only on a file that is there)."""
    if found.new:  # If-Match asks for a file that is there (RFC 9110, 13.1.1)
        return "HTTP_IF_MATCH" not in put.conditions
    if not put.conditions:
        return True
    last = int(found.modified) if found.modified is not None else -1
    try:
        environ = {"REQUEST_METHOD": "PUT", **put.conditions}
        util.evaluate_http_conditionals(_Replaced(), last, found.etag or "[]", environ)
    except Exception:  # failed, or not understood: WsgiDAV judges it again and answers
        return False
    return True


def answer(status: Any, headers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """WsgiDAV's answer for this status (its page, its headers), as ASGI messages."""
    started: list[Any] = []
    body = b"".join(
        util.send_status_response({}, lambda *a: started.append(a), status, add_headers=headers)
    )
    status_line, response_headers = started[0][:2]
    return {
        "status": int(status_line.split()[0]),
        "headers": [(k.lower().encode(), v.encode()) for k, v in response_headers],
        "body": body,
    }


@functools.cache
def _created_page() -> tuple[str, str]:
    """WsgiDAV's page for a 201, cut where it writes the time (made once, after WsgiDAV was
    configured: the version it shows depends on it)."""
    page = DAVError(HTTP_CREATED).get_response_page()[1].decode()
    head, _, _stamp = page.rpartition("</a> - ")
    return head + "</a> - ", "\n</body></html>"


def succeeded(new: bool, etag: str, now: float, date: bytes) -> dict[str, Any]:
    """The answer WsgiDAV gives to a PUT that was written (`answer(HTTP_CREATED, …)`),
    made without building an error object and its page at each request."""
    tagged = [(b"date", date), (b"etag", f'"{checked_etag(etag)}"'.encode())]
    if not new:
        return {"status": 204, "headers": [(b"content-length", b"0"), *tagged], "body": b""}
    head, tail = _created_page()
    body = f"{head}{datetime.datetime.fromtimestamp(now)}{tail}".encode()
    kind = (b"content-type", b"text/html; charset=utf-8")
    length = (b"content-length", str(len(body)).encode())
    return {"status": 201, "headers": [kind, tagged[0], length, tagged[1]], "body": body}


async def send_answer(send: Callable[..., Any], reply: dict[str, Any]) -> None:
    start = {"type": "http.response.start", "status": reply["status"]}
    await send({**start, "headers": reply["headers"]})
    await send({"type": "http.response.body", "body": reply["body"]})


async def _received(receive: Callable[..., Any], upload: _Upload, offer: SocketBody | None) -> bool:
    """The body written into the upload as it comes (hashed and written as the API's is),
    from the socket by a worker thread when the server offers it; False when the client went
    away before its end."""
    try:
        if offer is not None and await offer.into(upload.write):
            return True
    except BodyCut:
        return False
    except BodyTimedOut:
        raise DAVError(408, context_info="The upload stopped coming; nothing was kept.") from None
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        if message.get("body"):
            upload.write(message["body"])  # over the quota or a full disk: a DAV error
        if not message.get("more_body"):
            return True


class NativePut:
    """In front of the WebDAV app: the PUTs `asked` takes are served here (see the module's
    docstring); everything else, and every PUT WsgiDAV must judge, goes on to ``app``."""

    def __init__(self, app: Any, node: Node, provider: Any, mount: str) -> None:
        self.app, self.node, self.provider, self.mount = app, node, provider, mount
        self._date = (0, b"")  # the second, and its Date header as WsgiDAV writes it

    def _now(self) -> tuple[float, bytes]:
        now = time.time()
        if int(now) != self._date[0]:
            self._date = (int(now), util.get_rfc1123_time(now).encode())
        return now, self._date[1]

    async def front(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        """Before the node's middleware (`web/front.py`): a small new file answered here
        (None), else the `receive` the usual way goes on with (its body given again)."""
        put = asked(scope, self.mount)
        return await self._tried(put, receive, send) if put is not None else receive

    async def _tried(self, put: Asked, receive: Any, send: Any) -> Any:
        if not self._takes_small(put):
            return receive
        body = await whole_body(receive)
        if body is None:
            return None  # the client left mid-body: nothing was kept
        if await self._small(put, body, send):
            return None
        return small_put.replayed(body, receive)  # the usual way reads it again

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        put = asked(scope, self.mount) if scope["type"] == "http" else None
        if put is not None and not scope.get(TRIED):
            receive = await self._tried(put, receive, send)
            if receive is None:
                return  # answered, or the client left mid-body
        found = await anyio.to_thread.run_sync(find, self.node, put) if put else None
        reply: Any = PASS
        if put is not None and found is not None and conditions_hold(put, found):
            if put.conditions:  # judged on what is there now: it must still be so at the end
                found.plan = dataclasses.replace(found.plan, expect=(found.etag,))
            reply = await self._serve(put, found, receive, socket_body.offered(scope))
        if reply is PASS:
            await self.app(scope, receive, send)
        elif reply is not None:  # None: the client left mid-body, nothing was kept
            await send_answer(send, reply)

    def _takes_small(self, put: Asked) -> bool:
        if put.expects or put.conditions:  # a condition is judged the usual way
            return False
        if not small_put.taken(put.parts[-1], put.content_type, put.declared):
            return False
        return bool(self.node.group.takes_direct)

    async def _small(self, put: Asked, body: bytes, send: Any) -> bool:
        """A small new file through the group commit's thread, in one batch (`small_put`):
        True once answered, False when the usual way must take it (nothing recorded)."""
        if len(body) != put.declared:
            return False
        locks = self.provider.lock_manager
        digest = await small_put.written_soon(self.node, locks, put, body)
        if digest is None:
            return False
        await send_answer(send, succeeded(True, digest, *self._now()))
        return True

    async def _serve(self, put: Asked, found: Found, receive: Any, offer: Any) -> Any:
        """The answer to send, None if the client left, or PASS (nothing read yet)."""
        with ExitStack() as held:
            try:  # a lock in the way: WsgiDAV answers 423 with the lock it found
                held.enter_context(self._writing(put, found))
                upload = _Upload(self.node.blobs, found.plan.limit)
            except (DAVError, OSError):  # OSError: no room for a temp file, WsgiDAV says so
                return PASS
            with upload.writer:  # left without a digest: nothing is kept
                return await self._write(put, found, receive, upload, offer)

    def _writing(self, put: Asked, found: Found) -> Any:
        """WsgiDAV's lock checks of a PUT without an `If:` header: the file, or for a new
        one its folder, must not be locked; the file is then marked as being written, so
        that no LOCK is granted on it until the write is recorded."""
        locks = self.provider.lock_manager
        key = lock_key(found.member.id, put.top, put.parts, collection=False)
        checked = lock_key(found.member.id, put.top, put.parts[:-1], True) if found.new else key
        locks.check_write_permission(url=checked, depth="0", token_list=[], principal=put.user)
        return locks.write_transaction(url=key, token_list=[], principal=put.user)

    async def _write(
        self, put: Asked, found: Found, receive: Any, upload: _Upload, offer: SocketBody | None
    ) -> dict[str, Any] | None:
        """The body streamed, made durable and recorded; the answer (None: the client left)."""
        try:
            if not await _received(receive, upload, offer):
                return None
            if put.declared is not None and upload.writer.size != put.declared:
                raise DAVError(400, context_info="The upload was cut off; nothing was kept.")
            context = _Context(self.node, found.member.id, found.member)
            entry = await anyio.to_thread.run_sync(
                recorded, context, found.plan, upload, put.content_type
            )
        except DAVError as error:
            return answer(error)
        assert entry.blob is not None  # a file just written has its content
        return succeeded(found.new, entry.blob, *self._now())

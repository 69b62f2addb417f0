"""Small WebDAV PUTs answered before the middleware stack (`web/front.py`, `NativePut.front`):
the answer carries what the stack adds (security headers, Date, Cache-Control, the metrics),
and every refusal the stack or the usual way makes still holds: a wrong password, a frozen or
moved member (the moving doors), a cross-site origin and a session cookie without its CSRF
token (the CSRF check), the quota, a lock. Each refused PUT leaves nothing recorded."""

from __future__ import annotations

import base64
import os

from fastapi.testclient import TestClient

from hameau.accounts import members, tokens
from hameau.files import service as files
from hameau.moving import doors
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.web.csrf import SESSION_COOKIE
from tests.helpers import add_member, browser

PHOTO = "/dav/files/mine/photos/p-{}.jpg"


def _client(node: Node) -> tuple[TestClient, dict[str, str]]:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        files.make_folder(session, member, files.space(member, "mine"), ["photos"])
        secret = tokens.create_token(session, member, "phone")[1]
    basic = base64.b64encode(f"alex:{secret}".encode()).decode()
    return browser(node), {"Authorization": f"Basic {basic}", "Content-Type": "image/jpeg"}


def _names(node: Node) -> list[str]:
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        _, folder = files.locate(session, member, "mine", "photos")
        return sorted(entry.name for entry in files.children(session, folder))


def _front_took(client: TestClient) -> bool:
    stack = client.app.middleware_stack  # type: ignore[attr-defined]
    while stack is not None and type(stack).__name__ != "Front":
        stack = getattr(stack, "app", None)
    return stack is not None and stack.doors.get("/dav/files") is not None


def test_a_small_put_answered_at_the_front_carries_what_the_stack_adds(node: Node) -> None:
    client, auth = _client(node)
    answer = client.put(PHOTO.format(1), content=os.urandom(2048), headers=auth)
    assert answer.status_code == 201 and _front_took(client)
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store" and "date" in answer.headers
    assert "content-security-policy" in answer.headers and answer.headers["etag"]
    counted = client.app.state.metrics.counts  # type: ignore[attr-defined]
    assert counted[("PUT", "/dav/files", "201")] == 1  # as `RequestMetrics` names a mount
    assert _names(node) == ["p-1.jpg"]


def test_refusals_still_hold_for_a_small_put(node: Node) -> None:
    client, auth = _client(node)
    body = os.urandom(2048)
    wrong = {**auth, "Authorization": "Basic " + base64.b64encode(b"alex:hm_nope").decode()}
    assert client.put(PHOTO.format(1), content=body, headers=wrong).status_code == 401
    cross = {**auth, "Origin": "https://elsewhere.example"}
    assert client.put(PHOTO.format(2), content=body, headers=cross).status_code == 403
    fetched = {**auth, "Sec-Fetch-Site": "cross-site"}
    assert client.put(PHOTO.format(3), content=body, headers=fetched).status_code == 403
    cookie = {**auth, "Cookie": f"{SESSION_COOKIE}=a-session-without-its-token"}
    assert client.put(PHOTO.format(4), content=body, headers=cookie).status_code == 403
    with transaction(node.sessions) as session:
        members.find_member(session, "alex").quota_bytes = 1000
    assert client.put(PHOTO.format(5), content=body, headers=auth).status_code == 507
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        member.quota_bytes = 10 << 20
        doors.freeze(session, member)
    frozen = client.put(PHOTO.format(6), content=body, headers=auth)
    assert frozen.status_code == 503 and frozen.headers["retry-after"] == "60"
    with transaction(node.sessions) as session:
        doors.mark_moved(session, members.find_member(session, "alex"), "https://new.example")
    moved = client.put(PHOTO.format(7), content=body, headers=auth)
    assert moved.status_code == 308 and moved.headers["location"].startswith("https://new.example")
    assert _names(node) == []


def test_a_locked_folder_refuses_a_small_put(node: Node) -> None:
    client, auth = _client(node)
    lock = (
        b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        b"</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"
    )
    folder = "/dav/files/mine/photos/"
    headers = {**auth, "Content-Type": "application/xml", "Depth": "infinity"}
    assert client.request("LOCK", folder, content=lock, headers=headers).status_code == 200
    locked = client.put(PHOTO.format(1), content=os.urandom(2048), headers=auth)
    assert locked.status_code == 423
    assert _names(node) == []

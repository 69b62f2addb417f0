"""Every route needs a login, except the few that say why not."""

from __future__ import annotations

from starlette.routing import Route

from hameau.node.datadir import Node
from tests.helpers import add_member, browser

# Open on purpose: health checks, static files, and the ways in (login, setup, enrolment).
PUBLIC = {
    "/healthz", "/login", "/setup", "/devices/enrol", "/session/idle", "/logout",
    "/login/pick",  # the shared-device picker's choice, before any login
    "/.well-known/caldav", "/.well-known/carddav",  # RFC 6764 discovery, before any login
}  # fmt: skip


def all_routes(routes: list) -> list[Route]:  # type: ignore[type-arg]
    """Every endpoint route, through the routers included in one another."""
    found = []
    for route in routes:
        if isinstance(route, Route):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += all_routes(route.original_router.routes)
    return found


def test_every_route_needs_a_login_unless_listed(node: Node) -> None:
    add_member(node, "camille", admin=True)
    client = browser(node)
    checked = []
    for route in all_routes(client.app.routes):  # type: ignore[attr-defined]
        if route.path in PUBLIC:
            continue
        path = route.path.replace("{session_id}", "1").replace("{token_id}", "1")
        path = path.replace("{member_id}", "1").replace("{device_id}", "1")
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            answer = client.request(method, path, headers={"Accept": "application/json"})
            if path == "/metrics":
                assert answer.status_code == 403, path
            elif path == "/":
                assert answer.status_code == 303 and answer.headers["location"] == "/login"
            elif method == "GET":
                assert answer.status_code in (401, 303), (method, path, answer.status_code)
                if answer.status_code == 303:
                    assert answer.headers["location"].startswith("/login?next=")
            else:
                # State-changing requests without a session fail before anything runs.
                assert answer.status_code in (401, 403, 422), (method, path, answer.status_code)
            checked.append((method, path))
    assert len(checked) > 20
    assert ("GET", "/api/openapi.json") in checked

"""Every route needs a login, except the few that say why not."""

from __future__ import annotations

import re

from starlette.routing import Route

from hameau.app import load_parts
from hameau.node.datadir import Node
from tests.helpers import PASSWORD, add_member, browser, csrf, log_in

# Open on purpose, each with its reason. Every other route answers 401 without credentials
# (or, for a page, sends the browser to the login page) before it reads anything else.
PUBLIC = {
    "/healthz": "health checks by supervisors",
    "/metrics": "Prometheus on the node itself (loopback); 403 to anyone else but an admin",
    "/login": "the way in",
    "/setup": "the first admin, before there is anyone to log in",
    "/devices/enrol": "a one-time enrolment link is its own credential",
    "/session/idle": "tells a page its session ended",
    "/logout": "ends whatever session there is",
    "/login/pick": "the shared-device picker's choice, before any login",
    "/.well-known/caldav": "RFC 6764 discovery, before any login",
    "/.well-known/carddav": "RFC 6764 discovery, before any login",
    "/api/travel/satellites": "the login of a new satellite: name and password in its body",
    "/api/hamlet/pair": "another home's node pairing: the invitation's one-time secret is its"
    " credential, and the request is signed with the key it asks to have pinned",
    "/visit": "a visitor from another home, before any login; only on a shared device",
    "/visit/start": "a visitor leaves to sign in at their own home; only on a shared device",
    "/visit/callback": "back from the visitor's home: the sign-in it started, state-checked",
    "/visit/device": "a visitor whose home this terminal cannot reach asks for a code to approve"
    " at home, then waits; only on a shared device, found by its own cookie",
    "/hamlet/visit/authorize": "a visitor signs in from another home's terminal: the password"
    " is its credential, checked and limited as the login form's",
    "/.well-known/openid-configuration": "OpenID Connect discovery of visits, read by peers",
    "/hamlet/visit/jwks": "the public key id_tokens are signed with, read by peers",
}


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
    # Every part's routes, as if each had been used (they load on their first request).
    for route in all_routes(load_parts(client.app).routes):  # type: ignore[arg-type]
        if route.path in PUBLIC:
            continue
        path = route.path.replace("{session_id}", "1").replace("{token_id}", "1")
        path = path.replace("{member_id}", "1").replace("{device_id}", "1")
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            # Node-to-node routes are refused (403) over plain HTTP before anything: over HTTPS.
            url = f"https://testserver{path}" if path.startswith("/api/hamlet/") else path
            answer = client.request(method, url, headers={"Accept": "application/json"})
            if path == "/":
                assert answer.status_code == 303 and answer.headers["location"] == "/login"
            elif method == "GET" and answer.status_code == 303:  # a page: to the login form
                assert answer.headers["location"].startswith("/login?next="), path
            else:  # nothing is read, validated or changed before the login is checked
                assert answer.status_code == 401, (method, path, answer.status_code)
            checked.append((method, path))
    assert len(checked) > 20
    assert ("GET", "/api/openapi.json") in checked


def test_the_routes_listed_as_public_exist(node: Node) -> None:
    paths = {route.path for route in all_routes(load_parts(browser(node).app).routes)}  # type: ignore[arg-type]
    assert set(PUBLIC) <= paths


def test_metrics_are_refused_to_strangers(node: Node) -> None:
    assert browser(node).get("/metrics").status_code == 403
    assert browser(node, address="127.0.0.1").get("/metrics").status_code == 200


def test_a_new_satellite_without_good_credentials_gets_401_and_a_bad_body_422(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    url = "/api/travel/satellites"
    for missing_or_wrong in (
        None,
        {},
        {"name": "Laptop"},
        {"member": "alex", "name": "Laptop"},
        {"member": "alex", "password": "wrong", "name": "Laptop"},
        {"member": "nobody", "password": PASSWORD, "name": "Laptop"},
    ):
        answer = client.post(url, json=missing_or_wrong)
        assert answer.status_code == 401, missing_or_wrong
    for malformed in ({"member": "alex", "password": PASSWORD, "takes": "all"}, ["alex"]):
        assert client.post(url, json=malformed).status_code == 422, malformed
    garbage = client.post(url, content=b"{", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 422
    made = client.post(url, json={"member": "alex", "password": PASSWORD, "name": "Laptop"})
    assert made.status_code == 201 and made.json()["token"]


def test_no_address_breaks_on_a_number_out_of_range(node: Node) -> None:
    """A number past what the database holds (SQLite cannot even be handed one past 2**63),
    or below any row's, in any route's address: a 4xx with a sentence, never a 500."""
    add_member(node, "camille", admin=True)
    client = browser(node)
    log_in(client, "camille")
    headers = {"X-CSRF-Token": csrf(client.get("/").text), "Accept": "application/json"}
    tried = []
    for route in all_routes(load_parts(client.app).routes):  # type: ignore[arg-type]
        for number in (str(2**64), "-1"):
            path = re.sub(r"\{[^}]+\}", number, route.path)
            if path == route.path:
                continue
            url = f"https://testserver{path}" if path.startswith("/api/hamlet/") else path
            for method in sorted((route.methods or set()) - {"HEAD"}):
                answer = client.request(method, url, headers=headers)
                assert answer.status_code < 500, (method, path, answer.status_code)
                tried.append((method, route.path))
    assert ("GET", "/notes/{note_id}") in tried and ("POST", "/messages/{thread_id}") in tried

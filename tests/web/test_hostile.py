"""Hostile input gets a clear 4xx and changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.testclient import TestClient

from hameau.accounts.models import AppToken, Member
from hameau.node.datadir import Node
from tests.helpers import add_member, browser, csrf, log_in


def _count(node: Node, model: type) -> int:
    with node.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_wrong_or_missing_csrf_token_is_refused(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    for token in ("", "forged", csrf(browser(node).get("/login").text)):
        refused = client.post("/account/tokens", data={"label": "sneaky", "csrf_token": token})
        assert refused.status_code == 403
        assert "formulaire" in refused.text  # one clear sentence, in the reader's language
    api = client.post("/api/tokens", json={"label": "sneaky"})
    assert api.status_code == 403 and api.json()["error"]
    assert _count(node, AppToken) == 0


def test_cross_site_requests_are_refused_even_with_a_token(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    token = csrf(client.get("/account/tokens").text)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        refused = client.post(
            "/account/tokens", data={"label": "x", "csrf_token": token}, headers=headers
        )
        assert refused.status_code == 403
    assert _count(node, AppToken) == 0


def test_a_session_replayed_after_logout_is_dead(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    stolen = client.cookies["hameau_session"]
    client.post("/logout", data={"csrf_token": csrf(client.get("/account").text)})
    replay = browser(node, address="198.51.100.9")
    replay.cookies.set("hameau_session", stolen)
    assert replay.get("/api/me").status_code == 401
    assert replay.get("/account").headers["location"].startswith("/login")


def test_a_one_megabyte_form_field_is_refused(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    token = csrf(client.get("/account/tokens").text)
    huge = client.post("/account/tokens", data={"label": "x" * (1 << 20), "csrf_token": token})
    assert huge.status_code == 413
    assert "trop volumineux" in huge.text
    streamed = client.post(
        "/login",
        content=iter([b"name=alex&password=" + b"y" * 65536, b"z" * (1 << 20)]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert streamed.status_code == 413
    assert _count(node, AppToken) == 0


def test_an_unknown_device_cookie_is_refused_and_cleared(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    client.cookies.set("hameau_device", "made-up-device-secret", domain="testserver.local")
    refused = client.get("/login")
    assert refused.status_code == 400
    assert "appareil" in refused.text
    assert "hameau_device=;" in refused.headers["set-cookie"]
    assert _count(node, Member) == 1


def test_a_forged_device_in_the_login_address_is_refused(node: Node) -> None:
    add_member(node, "alex")
    page = browser(node).get("/login", params={"device": "forged"})
    assert page.status_code == 400


def test_garbage_authorization_headers_get_401(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    for header in ("Bearer ", "Bearer hm_nope", "Basic !!!", "Basic " + "A" * 5000, "Digest x"):
        answer = client.get("/api/me", headers={"Authorization": header})
        assert answer.status_code == 401, header


def test_bad_member_names_are_refused_with_a_sentence(node: Node) -> None:
    add_member(node, "camille", admin=True)
    client = browser(node)
    log_in(client, "camille")
    token = csrf(client.get("/admin/members").text)
    for name in ("../etc", "A", "x" * 41, "<script>", "alex\x00"):
        page = client.post(
            "/admin/members", data={"name": name, "password": "long enough", "csrf_token": token}
        )
        assert page.status_code == 400, name
        assert "<script>" not in page.text.split("<main>")[1]
    assert _count(node, Member) == 1


def test_numbers_past_the_databases_range_in_forms_get_a_sentence(node: Node) -> None:
    """SQLite cannot be handed an integer past 2**63: such a number in a form is refused in
    words before it reaches the database, and nothing is made."""
    add_member(node, "camille", admin=True)
    client = browser(node)
    log_in(client, "camille")
    token = csrf(client.get("/admin/members").text)
    for quota in (str(2**64), str(2**63), "-3"):
        page = client.post(
            "/admin/members",
            data={"name": "zoe", "password": "long enough", "quota_mb": quota, "csrf_token": token},
        )
        assert page.status_code == 400, quota
        assert "Un quota est un nombre de mégaoctets" in page.text, quota
    assert _count(node, Member) == 1
    note = client.post("/notes", data={"csrf_token": token}).headers["location"]
    page = client.post(note, data={"base": str(2**64), "text": "x", "csrf_token": token})
    assert page.status_code == 400 and "rechargez la note" in page.text


def test_only_file_uploads_may_stream_large_bodies(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    from tests.helpers import csrf_header

    headers = {**csrf_header(client), "Content-Type": "application/json"}
    huge_json = b'{"space": "mine", "path": "' + b"x" * 2_000_000 + b'"}'
    assert client.post("/api/files/folders", content=huge_json, headers=headers).status_code == 413
    huge_xml = b"<?xml version='1.0'?><D:propertyupdate xmlns:D='DAV:'>" + b" " * 2_000_000
    answer = client.request(
        "PROPPATCH",
        "/dav/files/mine/",
        content=huge_xml,
        headers={**headers, "Content-Type": "text/xml"},
    )
    assert answer.status_code == 413
    upload = client.put(
        "/api/files/mine/big.bin", content=b"y" * 2_000_000, headers=csrf_header(client)
    )
    assert upload.status_code == 201


def test_a_members_failed_logins_are_not_forgotten_when_many_names_are_tried(node: Node) -> None:
    from hameau.accounts.ratelimit import MAX_KEYS

    add_member(node, "alex")
    client = browser(node)
    for _ in range(5):
        assert log_in(client, "alex", "wrong password").status_code == 401
    assert log_in(client, "alex").status_code == 429
    limiter = client.app.state.limiter  # type: ignore[attr-defined]
    for number in range(2 * MAX_KEYS):  # a spray of names from many addresses
        limiter.failed(f"name{number}", f"2001:db8::{number:x}")
    elsewhere = TestClient(client.app, client=("203.0.113.7", 50000), follow_redirects=False)
    paused = log_in(elsewhere, "alex")
    assert paused.status_code == 429 and paused.headers["retry-after"]


def test_no_two_pages_carry_the_same_form_token(node: Node) -> None:
    """Pages are compressed: a token repeated in every page could be guessed from the sizes of
    the answers (BREACH). Each page's token differs, each is accepted, and another session's
    is not."""
    add_member(node, "alex")
    add_member(node, "sam")
    client, other = browser(node), browser(node)
    log_in(client, "alex")
    log_in(other, "sam")
    tokens = {csrf(client.get("/account/tokens").text) for _ in range(5)}
    assert len(tokens) == 5
    for number, token in enumerate(tokens):
        made = client.post("/account/tokens", data={"label": f"t{number}", "csrf_token": token})
        assert made.status_code in (200, 303), made.text
    sams = csrf(other.get("/account/tokens").text)
    stolen = client.post("/account/tokens", data={"label": "x", "csrf_token": sams})
    assert stolen.status_code == 403
    assert _count(node, AppToken) == 5

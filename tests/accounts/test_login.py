"""Onboarding, login, logout, rate limiting and the shared-device picker, over HTTP."""

from __future__ import annotations

import html

from hameau.accounts import devices
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, csrf, enrol, log_in

SETUP_FIELDS = {
    "name": "camille",
    "password": "un jardin partagé",
    "password_again": "un jardin partagé",
}


def test_fresh_node_sends_everyone_to_setup(node: Node) -> None:
    client = browser(node)
    assert client.get("/").headers["location"] == "/setup"
    assert client.get("/login").headers["location"] == "/setup"
    page = client.get("/setup")
    assert page.status_code == 200
    assert 'name="code"' in page.text  # not on loopback: the setup code is asked for


def test_setup_from_elsewhere_needs_the_code(node: Node) -> None:
    client = browser(node)
    token = csrf(client.get("/setup").text)
    wrong = client.post("/setup", data={**SETUP_FIELDS, "code": "nope", "csrf_token": token})
    assert wrong.status_code == 403
    assert "Code d'installation erroné" in html.unescape(wrong.text)
    assert client.get("/setup").status_code == 200  # still no admin

    code = client.app.state.setup_code  # type: ignore[attr-defined]
    made = client.post("/setup", data={**SETUP_FIELDS, "code": code, "csrf_token": token})
    assert made.status_code == 303
    home = client.get("/")
    assert home.status_code == 200
    assert "Camille" in home.text
    # The code is spent, and setup is closed for good.
    assert client.get("/setup").headers["location"] == "/login"


def test_setup_from_loopback_needs_no_code(node: Node) -> None:
    client = browser(node, address="127.0.0.1")
    page = client.get("/setup")
    assert 'name="code"' not in page.text
    made = client.post("/setup", data={**SETUP_FIELDS, "csrf_token": csrf(page.text)})
    assert made.status_code == 303
    assert client.get("/api/me").json()["is_admin"] is True


def test_setup_refuses_a_second_admin(node: Node) -> None:
    add_member(node, "camille", admin=True)
    client = browser(node, address="127.0.0.1")
    token = csrf(client.get("/login").text)
    again = client.post("/setup", data={**SETUP_FIELDS, "name": "mallory", "csrf_token": token})
    assert again.status_code == 403
    assert log_in(client, "mallory", "un jardin partagé").status_code == 401


def test_login_and_logout_clear_everything(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    assert log_in(client, "alex").status_code == 303
    assert client.get("/api/me").json()["name"] == "alex"
    private = client.get("/account")
    assert private.headers["cache-control"] == "no-store"

    out = client.post("/logout", data={"csrf_token": csrf(private.text)})
    assert out.status_code == 303
    assert out.headers["clear-site-data"] == '"cache", "cookies", "storage"'
    assert not client.cookies  # the session cookie was deleted too
    assert client.get("/api/me").status_code == 401


def test_wrong_password_and_disabled_member_cannot_log_in(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    wrong = log_in(client, "alex", "not the password")
    assert wrong.status_code == 401
    assert "hameau_session" not in client.cookies

    with transaction(node.sessions) as session:
        from hameau.accounts import members

        members.set_disabled(session, members.find_member(session, "alex"), True)
    assert log_in(client, "alex").status_code == 401


def test_repeated_failures_are_paused_with_retry_after(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    for _ in range(node.settings.login_max_failures):
        assert log_in(client, "alex", "guess").status_code == 401
    paused = log_in(client, "alex", "guess")
    assert paused.status_code == 429
    assert int(paused.headers["retry-after"]) > 0
    # Even the right password waits: the pause protects the account.
    assert log_in(client, "alex").status_code == 429
    # Another account from another address is not affected.
    add_member(node, "sam")
    assert log_in(browser(node, address="192.0.2.77"), "sam").status_code == 303


def test_failures_from_one_address_are_paused_across_accounts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import make_node

    node = make_node(tmp_path / "n", login_max_failures_per_address=3)
    add_member(node, "alex")
    client = browser(node)
    for name in ("a1", "a2", "a3"):
        assert log_in(client, name + "xx", "guess").status_code == 401
    assert log_in(client, "someone", "guess").status_code == 429
    node.close()


def test_next_only_leads_to_this_node(node: Node) -> None:
    add_member(node, "alex")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        client = browser(node)
        assert log_in(client, "alex", next=target).headers["location"] == "/"
    client = browser(node)
    assert (
        log_in(client, "alex", next="/account/sessions").headers["location"] == "/account/sessions"
    )


def test_private_page_sends_browsers_to_login_and_clients_get_401(node: Node) -> None:
    client = browser(node)
    add_member(node, "alex")
    page = client.get("/account/sessions")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Faccount%2Fsessions"
    api = client.get("/api/me")
    assert api.status_code == 401
    assert api.json()["error"]


def test_shared_device_shows_the_picker_and_keeps_its_identity_after_logout(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        devices.add_device(session, "Kitchen", "terminal", True)
    client = browser(node)
    secret = enrol(client, node, "Kitchen")
    picker = client.get("/login")
    assert "avatar" in picker.text and "Alex" in picker.text and "Sam" in picker.text
    assert secret not in picker.text  # the credential stays in its cookie, never in a link
    chosen = client.get("/login", params={"member": "alex"})
    assert 'type="password"' in chosen.text

    assert log_in(client, "alex").status_code == 303
    sessions = client.get("/api/sessions").json()
    assert sessions[0]["device"] == "Kitchen" and sessions[0]["shared"] is True

    out = client.post("/logout", data={"csrf_token": csrf(client.get("/account").text)})
    # The member's session, cache and storage go; the device cookie (no member data) stays.
    assert out.headers["clear-site-data"] == '"cache", "storage"'
    assert out.headers["location"] == "/login"
    assert dict(client.cookies) == {"hameau_device": secret}
    picker_again = client.get(out.headers["location"])
    assert "Sam" in picker_again.text
    assert log_in(client, "sam").status_code == 303
    assert client.get("/api/me").json()["name"] == "sam"
    assert client.get("/api/sessions").json()[0]["shared"] is True


def test_enrolment_link_enrols_once(node: Node) -> None:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        code = devices.create_enrol_code(devices.add_device(session, "Laptop", "laptop", True))
    client = browser(node)
    confirm = client.get("/devices/enrol", params={"code": code})
    assert confirm.status_code == 200 and "Laptop" in confirm.text
    assert "hameau_device" not in client.cookies  # a GET enrols nothing
    done = client.post("/devices/enrol", data={"code": code, "csrf_token": csrf(confirm.text)})
    assert done.status_code == 303
    assert client.cookies.get("hameau_device")
    other = browser(node)
    again = other.get("/devices/enrol", params={"code": code})
    assert again.status_code == 404


def _age_sessions(node: Node, minutes: int) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from hameau.accounts.models import LoginSession
    from hameau.node.db import utcnow

    with transaction(node.sessions) as session:
        moment = utcnow() - timedelta(minutes=minutes)
        session.execute(update(LoginSession).values(last_seen_at=moment))


def test_a_shared_device_logs_out_by_itself_when_idle(node: Node) -> None:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        devices.add_device(session, "Kitchen", "terminal", True)
    client = browser(node)
    enrol(client, node, "Kitchen")
    log_in(client, "alex")
    page = client.get("/account")
    idle = int(node.settings.shared_idle_minutes * 60)
    # Only a browser without scripts refreshes; others run idle.js (warning, drafts).
    assert (
        f'<noscript><meta http-equiv="refresh" content="{idle + 5};url=/session/idle?back=/account">'
        in page.text
    )
    assert "/static/idle.js" in page.text
    assert (
        client.get("/session/idle", params={"back": "/account"}).headers["location"] == "/account"
    )

    _age_sessions(node, node.settings.shared_idle_minutes + 1)
    out = client.get("/session/idle", params={"back": "/account"})
    assert out.headers["clear-site-data"] == '"cache", "storage"'
    assert out.headers["location"] == "/login"
    assert client.get("/api/me").status_code == 401


def test_a_personal_browser_is_not_logged_out_after_minutes(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    assert 'http-equiv="refresh"' not in client.get("/account").text
    _age_sessions(node, 60)
    assert client.get("/api/me").status_code == 200

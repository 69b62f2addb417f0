"""Shared devices keep their promise, over HTTP: the device survives logout without its
credential in any address, idle time counts only the member's activity, drafts stay on the
node, titles name nothing of a member, and a device is never taken from a browser silently.
(The same in a real Chromium: tests/e2e/test_shared_device.py.)"""

from __future__ import annotations

import re

from hameau.accounts import devices
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, csrf, csrf_header, enrol, log_in


def kitchen(node: Node) -> None:
    with transaction(node.sessions) as session:
        devices.add_device(session, "Kitchen", "terminal", True)


def title(page_html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", page_html, re.S)
    assert found
    return found.group(1)


def test_an_old_login_address_with_the_credential_becomes_a_cookie(node: Node) -> None:
    add_member(node, "alex")
    kitchen(node)
    with transaction(node.sessions) as session:
        secret = devices.enrol(devices.find_device(session, "Kitchen"))
    client = browser(node)
    moved = client.get("/login", params={"device": secret, "member": "alex"})
    assert moved.status_code == 303 and moved.headers["location"] == "/login?member=alex"
    assert client.cookies.get("hameau_device") == secret
    assert "Kitchen" in client.get("/login").text
    unknown = browser(node).get("/login", params={"device": "not-a-device"})
    assert unknown.status_code == 400


def test_a_personal_browser_still_keeps_no_cookie_after_logout(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    out = client.post("/logout", data={"csrf_token": csrf(client.get("/account").text)})
    assert out.headers["clear-site-data"] == '"cache", "cookies", "storage"'
    assert not client.cookies


def _age(node: Node, seconds: float) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from hameau.accounts.models import LoginSession
    from hameau.node.db import utcnow

    with transaction(node.sessions) as session:
        session.execute(
            update(LoginSession).values(last_seen_at=utcnow() - timedelta(seconds=seconds))
        )


def test_only_the_members_activity_pushes_back_the_idle_logout(node: Node) -> None:
    add_member(node, "alex")
    kitchen(node)
    client = browser(node)
    enrol(client, node, "Kitchen")
    log_in(client, "alex")
    idle = node.settings.shared_idle_minutes * 60
    headers = csrf_header(client)
    _age(node, idle / 2)
    # idle.js asking on its own (no activity since it last asked) does not count.
    passive = client.post(
        "/session/alive", data={"active": "0"}, headers={**headers, "X-Hameau-Passive": "1"}
    ).json()
    assert passive["idle"] == idle and passive["left"] <= idle / 2
    active = client.post("/session/alive", data={"active": "1"}, headers=headers).json()
    assert active["left"] > idle / 2
    _age(node, idle + 1)
    over = client.post(
        "/session/alive",
        data={"active": "1"},
        headers={**headers, "Accept": "application/json"},
    )
    assert over.status_code == 401  # idle.js then leaves for the login page
    assert client.get("/api/me").status_code == 401


def test_a_message_being_written_is_kept_on_the_node_until_sent(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    add_member(node, "lou")
    alex, sam = browser(node), browser(node)
    log_in(alex, "alex")
    log_in(sam, "sam")
    started = alex.post(
        "/messages",
        data={"to": "sam", "subject": "Courses", "body": "Du pain ?", **_token(alex)},
    )
    thread = started.headers["location"]
    draft = alex.post(thread + "/draft", data={"body": "Et des œufs", **_token(alex)})
    assert draft.status_code == 204
    assert "Et des œufs</textarea>" in alex.get(thread).text
    assert "Et des œufs" not in sam.get(thread).text  # a draft is its writer's only
    lou = browser(node)
    log_in(lou, "lou")
    assert lou.post(thread + "/draft", data={"body": "x", **_token(lou)}).status_code == 404

    alex.post(thread, data={"body": "Et des œufs", **_token(alex)})
    assert "Et des œufs</textarea>" not in alex.get(thread).text  # sent: the draft is gone

    alex.post(
        "/messages/draft",
        data={"to": "sam", "subject": "Vélo", "body": "Tu me le prêtes ?", **_token(alex)},
    )
    inbox = alex.get("/messages").text
    assert 'value="Vélo"' in inbox and "Tu me le prêtes ?</textarea>" in inbox
    assert 'value="sam" checked' in inbox
    discarded = alex.post("/messages/draft", data={"back": "1", **_token(alex)})
    assert discarded.headers["location"] == "/messages"
    assert 'value="Vélo"' not in alex.get("/messages").text


def _token(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"csrf_token": csrf(client.get("/messages").text)}


def test_pages_on_a_shared_device_have_generic_titles(node: Node) -> None:
    add_member(node, "alex")
    kitchen(node)
    client = browser(node)
    enrol(client, node, "Kitchen")
    log_in(client, "alex")
    made = client.post("/notes", data=_token(client))
    note = made.headers["location"]
    client.put(
        "/api/notes/" + note.rsplit("/", 1)[1],
        json={"base": 0, "text": "# Cadeau pour Sam\n\nun vélo"},
        headers=csrf_header(client),
    )
    page = client.get(note)
    assert "Cadeau pour Sam" in page.text  # shown on the page …
    assert "Cadeau" not in title(page.text)  # … but not kept in the browser's history
    personal = browser(node)
    log_in(personal, "alex")
    assert "Cadeau pour Sam" in title(personal.get(note).text)


def test_enrolling_a_second_browser_asks_before_taking_the_device(node: Node) -> None:
    add_member(node, "alex")
    kitchen(node)
    first = browser(node)
    first_secret = enrol(first, node, "Kitchen")
    with transaction(node.sessions) as session:
        code = devices.create_enrol_code(devices.find_device(session, "Kitchen"))
    second = browser(node)
    question = second.get("/devices/enrol", params={"code": code})
    assert 'id="replace-question"' in question.text and 'name="replace"' in question.text
    # Enrolling without saying yes (a form from before the first browser was enrolled) asks.
    asked = second.post("/devices/enrol", data={"code": code, "csrf_token": csrf(question.text)})
    assert asked.status_code == 409 and 'id="replace-question"' in asked.text
    assert "hameau_device" not in second.cookies
    assert "Kitchen" in first.get("/login").text  # the first is still the device
    again = first.get("/devices/enrol", params={"code": code})
    assert 'id="replace-question"' not in again.text  # that browser is the device already

    replaced = second.post(
        "/devices/enrol",
        data={"code": code, "replace": "1", "csrf_token": csrf(asked.text)},
    )
    assert replaced.status_code == 303 and second.cookies.get("hameau_device")
    assert first.get("/login").status_code == 400  # told once, then a plain login
    assert first_secret != second.cookies.get("hameau_device")


def test_an_admin_enrolling_their_browser_is_asked_too(node: Node) -> None:
    add_member(node, "camille", admin=True)
    kitchen(node)
    first = browser(node)
    enrol(first, node, "Kitchen")
    admin = browser(node)
    log_in(admin, "camille")
    page = admin.get("/admin/devices")
    device_id = re.search(r'action="/admin/devices/(\d+)/enrol"', page.text).group(1)  # type: ignore[union-attr]
    asked = admin.post(f"/admin/devices/{device_id}/enrol", data={"csrf_token": csrf(page.text)})
    assert asked.status_code == 409 and 'id="replace-question"' in asked.text
    assert "hameau_device" not in admin.cookies
    assert "Kitchen" in first.get("/login").text
    done = admin.post(
        f"/admin/devices/{device_id}/enrol", data={"csrf_token": csrf(page.text), "replace": "1"}
    )
    assert done.status_code == 303 and admin.cookies.get("hameau_device")


def test_the_picker_puts_no_members_name_in_an_address(node: Node) -> None:
    add_member(node, "alex")
    kitchen(node)
    client = browser(node)
    enrol(client, node, "Kitchen")
    picker = client.get("/login")
    assert "?member=" not in picker.text and 'value="alex"' in picker.text
    chosen = client.post("/login/pick", data={"member": "alex", "csrf_token": csrf(picker.text)})
    assert chosen.status_code == 200 and 'type="password"' in chosen.text
    assert 'name="name" value="alex"' in chosen.text

"""Home page, resuming where one left off, health and metrics."""

from __future__ import annotations

from hameau.node.datadir import Node
from tests.helpers import add_member, browser, csrf_header, log_in


def test_home_shows_the_members_apps_and_admin_tiles_only_to_admins(node: Node) -> None:
    add_member(node, "camille", admin=True)
    add_member(node, "alex")
    member, admin = browser(node), browser(node)
    log_in(member, "alex")
    log_in(admin, "camille")
    page = member.get("/").text
    assert "Bonjour, Alex" in page and 'href="/account/sessions"' in page
    assert 'href="/admin/members"' not in page
    assert 'href="/admin/members"' in admin.get("/").text


def test_a_member_resumes_where_they_left_off_on_another_browser(node: Node) -> None:
    add_member(node, "alex")
    first = browser(node)
    log_in(first, "alex")
    assert "Reprendre" not in first.get("/").text  # nothing to resume yet
    first.get("/account/tokens")
    second = browser(node, address="192.0.2.44")
    log_in(second, "alex")
    home = second.get("/").text
    assert "Reprendre là où vous en étiez" in home
    assert 'href="/account/tokens"' in home.split('id="resume"')[1].split("</div>")[0]
    assert "Mots de passe d&#39;application" in home.split('id="resume"')[1]
    # On the browser where it was left, there is nothing to offer.
    assert 'id="resume"' not in first.get("/").text


def test_apps_record_the_open_item_through_the_api(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    token = csrf_header(client)["X-CSRF-Token"]
    put = client.put(
        "/api/workspace",
        json={"app": "notes", "path": "/account", "item": "42", "title": "Liste de courses"},
        headers={"X-CSRF-Token": token},
    )
    assert put.status_code == 204
    place = client.get("/api/workspace").json()
    assert place["title"] == "Liste de courses" and place["item"] == "42"
    bad = client.put(
        "/api/workspace",
        json={"app": "notes", "path": "//evil.example", "title": "x"},
        headers={"X-CSRF-Token": token},
    )
    assert bad.status_code == 422


def test_healthz_needs_no_login(node: Node) -> None:
    answer = browser(node).get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_metrics_are_for_admins_or_loopback(node: Node) -> None:
    add_member(node, "camille", admin=True)
    add_member(node, "alex")
    assert browser(node).get("/metrics").status_code == 403
    member = browser(node)
    log_in(member, "alex")
    assert member.get("/metrics").status_code == 403
    admin = browser(node)
    log_in(admin, "camille")
    text = admin.get("/metrics").text
    assert "hameau_members 2.0" in text
    assert 'hameau_http_requests_total{method="POST",route="/login",status="303"}' in text
    local = browser(node, address="127.0.0.1").get("/metrics")
    assert local.status_code == 200 and "process_resident_memory_bytes" in local.text


def test_unknown_pages_get_a_page_and_api_clients_json(node: Node) -> None:
    client = browser(node)
    page = client.get("/nowhere")
    assert page.status_code == 404 and "Cette page n&#39;existe pas." in page.text
    api = client.get("/api/nowhere")
    assert api.status_code == 404 and api.json()["status"] == 404


def test_every_page_is_fully_written_in_both_languages(node: Node) -> None:
    """No placeholder left unfilled, no msgid left untranslated on any page an admin sees."""
    from hameau.accounts import devices
    from hameau.node.db import transaction

    add_member(node, "camille", admin=True)
    with transaction(node.sessions) as session:
        devices.add_device(session, "Cuisine", "terminal", True, lifetime_years=8)
    client = browser(node)
    log_in(client, "camille")
    pages = [
        "/",
        "/account",
        "/account/sessions",
        "/account/tokens",
        "/admin/members",
        "/admin/devices",
    ]
    for path in pages:
        french = client.get(path).text
        assert "%(" not in french and "%s" not in french, path
        english = client.get(path, headers={"Accept-Language": "en"}).text
        assert "%(" not in english, path
    assert "8 ans prévus" in client.get("/admin/devices").text

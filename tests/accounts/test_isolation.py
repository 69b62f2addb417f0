"""Members never see each other's sessions, tokens or accounts; revocations act at once."""

from __future__ import annotations

from hameau.accounts import members, tokens
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, csrf, log_in, post_form


def _token(node: Node, name: str) -> str:
    with transaction(node.sessions) as session:
        return tokens.create_token(session, members.find_member(session, name), "test")[1]


def test_a_member_cannot_touch_another_members_sessions(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    alex, sam = browser(node), browser(node, address="192.0.2.11")
    log_in(alex, "alex")
    log_in(sam, "sam")
    sam_session = sam.get("/api/sessions").json()[0]["id"]

    token = csrf(alex.get("/account/sessions").text)
    assert (
        alex.post(f"/account/sessions/{sam_session}/revoke", data={"csrf_token": token}).status_code
        == 404
    )
    assert (
        alex.delete(f"/api/sessions/{sam_session}", headers={"X-CSRF-Token": token}).status_code
        == 404
    )
    assert sam.get("/api/me").json()["name"] == "sam"  # untouched
    assert "192.0.2.11" not in alex.get("/account/sessions").text


def test_a_member_cannot_read_or_revoke_another_members_tokens(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    sam_secret = _token(node, "sam")
    alex = {"Authorization": f"Bearer {_token(node, 'alex')}"}
    client = browser(node)
    listed = client.get("/api/tokens", headers=alex).json()
    assert [token["label"] for token in listed] == ["test"] and len(listed) == 1
    sam_id = (
        browser(node)
        .get("/api/tokens", headers={"Authorization": f"Bearer {sam_secret}"})
        .json()[0]["id"]
    )
    assert client.delete(f"/api/tokens/{sam_id}", headers=alex).status_code == 404
    assert (
        client.get("/api/me", headers={"Authorization": f"Bearer {sam_secret}"}).status_code == 200
    )


def test_member_pages_and_objects_of_admins_are_refused(node: Node) -> None:
    admin_id = add_member(node, "camille", admin=True)
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    for path in ("/admin/members", "/admin/devices", "/api/members", f"/api/members/{admin_id}"):
        assert client.get(path).status_code == 403, path
    refused = post_form(client, "/account", f"/admin/members/{admin_id}/disable")
    assert refused.status_code == 403
    assert (
        browser(node)
        .get("/api/me", headers={"Authorization": f"Bearer {_token(node, 'camille')}"})
        .status_code
        == 200
    )


def test_a_revoked_token_stops_working_at_once(node: Node) -> None:
    add_member(node, "alex")
    secret = _token(node, "alex")
    client = browser(node)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/me", headers=bearer).status_code == 200
    assert (
        client.get("/api/me", auth=("alex", secret)).status_code == 200
    )  # HTTP Basic, as DAV clients do
    token_id = client.get("/api/tokens", headers=bearer).json()[0]["id"]
    assert client.delete(f"/api/tokens/{token_id}", headers=bearer).status_code == 204
    refused = client.get("/api/me", headers=bearer)
    assert refused.status_code == 401
    assert "www-authenticate" in refused.headers
    assert client.get("/api/me", auth=("alex", secret)).status_code == 401


def test_basic_auth_needs_the_owner_name_and_a_token_not_the_password(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    secret = _token(node, "alex")
    client = browser(node)
    assert client.get("/api/me", auth=("sam", secret)).status_code == 401
    assert client.get("/api/me", auth=("alex", "correct horse")).status_code == 401


def test_disabling_a_member_ends_their_sessions_and_tokens(node: Node) -> None:
    add_member(node, "camille", admin=True)
    alex_id = add_member(node, "alex")
    secret = _token(node, "alex")
    alex = browser(node)
    log_in(alex, "alex")
    admin = browser(node, address="192.0.2.12")
    log_in(admin, "camille")
    assert (
        post_form(admin, "/admin/members", f"/admin/members/{alex_id}/disable").status_code == 303
    )
    assert alex.get("/api/me").status_code == 401
    assert alex.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert log_in(browser(node), "alex").status_code == 401
    # The last admin cannot lock everyone out.
    admin_id = admin.get("/api/me").json()["id"]
    assert (
        post_form(admin, "/admin/members", f"/admin/members/{admin_id}/disable").status_code == 409
    )

"""The API's description says what the routes answer; what schemathesis found stays fixed.

(tests/e2e/test_schemathesis.py fuzzes a served node against the description; these are the
findings it made, pinned as plain requests.)"""

from __future__ import annotations

from hameau.accounts import members, tokens
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser


def _bearer(node: Node, name: str) -> dict[str, str]:
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, name), "t")[1]
    return {"Authorization": f"Bearer {secret}"}


def test_the_description_is_for_members_and_documents_refusals(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    assert client.get("/api/openapi.json").status_code == 401
    spec = client.get("/api/openapi.json", headers=_bearer(node, "alex")).json()
    files = spec["paths"]["/api/files/{key}/{path}"]
    assert {"401", "404", "422"} <= set(files["get"]["responses"])
    assert "*/*" in files["get"]["responses"]["200"]["content"]  # a file, of its own type
    assert "application/octet-stream" in files["put"]["requestBody"]["content"]
    fetch = spec["paths"]["/api/travel/blobs/fetch"]["post"]["responses"]
    assert list(fetch["200"]["content"]) == ["application/octet-stream"]
    refusal = files["get"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert refusal == {"$ref": "#/components/schemas/Error"}  # the node's shape, not FastAPI's
    ai = spec["paths"]["/v1/chat/completions"]["post"]["responses"]["503"]
    assert ai["content"]["application/json"]["schema"]["$ref"].endswith("/OpenAIError")
    assert spec["paths"]["/api/travel/satellites"]["post"]["security"] == []  # a login itself


def test_a_405_names_every_method_the_address_takes(node: Node) -> None:
    add_member(node, "alex")
    alex, client = _bearer(node, "alex"), browser(node)
    for path, allowed in (
        ("/api/files/mine/a.txt", "GET, PUT, DELETE"),
        ("/api/tokens", "GET, POST"),
        ("/api/notes/1", "GET, PUT"),
        ("/api/workspace", "GET, PUT"),
        ("/api/me", "GET"),
    ):
        answer = client.request("PATCH", path, headers=alex)
        assert answer.status_code == 405, path
        assert answer.headers["Allow"] == allowed, path
        assert answer.json()["status"] == 405


def test_ids_past_what_the_database_holds_are_refused_not_a_crash(node: Node) -> None:
    add_member(node, "alex", admin=True)
    alex, client = _bearer(node, "alex"), browser(node)
    huge = str(2**70)
    for method, path in (
        ("GET", f"/api/notes/{huge}"),
        ("GET", f"/api/notes/-{huge}"),
        ("GET", f"/api/members/{huge}"),
        ("DELETE", f"/api/tokens/{huge}"),
        ("DELETE", f"/api/sessions/{huge}"),
        ("GET", f"/api/travel/files/mine/changes?since={huge}"),
    ):
        answer = client.request(method, path, headers=alex)
        assert answer.status_code == 422, (method, path, answer.status_code)
        assert answer.json()["error"]

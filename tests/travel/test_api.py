"""The home side of sync: changes since a sequence, and content by hash, for the member only."""

from __future__ import annotations

import hashlib

from hameau.accounts import members, tokens
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser


def bearer(node: Node, name: str) -> dict[str, str]:
    with transaction(node.sessions) as session:
        return {
            "Authorization": f"Bearer {tokens.create_token(session, members.find_member(session, name), 't')[1]}"
        }


def test_changes_since_a_sequence_and_content_by_hash(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    alex, sam, client = bearer(node, "alex"), bearer(node, "sam"), browser(node)
    client.put("/api/files/mine/a.txt", content=b"one", headers=alex)
    client.put("/api/files/mine/b.txt", content=b"two", headers=alex)
    first = client.get("/api/travel/files/mine/changes", headers=alex).json()
    assert [c["path"] for c in first["changes"]] == ["a.txt", "b.txt"]
    assert first["changes"][0]["vector"] == {first["replica"]: 1}
    client.delete("/api/files/mine/a.txt", headers=alex)
    later = client.get(
        "/api/travel/files/mine/changes", params={"since": first["last"]}, headers=alex
    ).json()
    assert [(c["path"], c["blob"]) for c in later["changes"]] == [("a.txt", None)]

    digest = hashlib.sha256(b"two").hexdigest()
    assert client.get(f"/api/travel/blobs/{digest}", headers=alex).content == b"two"
    # Sam sees neither Alex's changes nor Alex's content, even knowing its hash.
    assert client.get("/api/travel/files/mine/changes", headers=sam).json()["changes"] == []
    assert client.get(f"/api/travel/blobs/{digest}", headers=sam).status_code == 404
    assert client.get("/api/travel/blobs/../../node.key", headers=alex).status_code == 404
    assert client.get("/api/travel/files/nowhere/changes", headers=alex).status_code == 404

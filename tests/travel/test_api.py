"""The home side of sync: changes since a sequence, and content by hash, for the member only."""

from __future__ import annotations

import hashlib

from hameau.accounts import members, tokens
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import PASSWORD, add_member, browser


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
    fetch = "/api/travel/blobs/fetch"
    assert client.post(fetch, json={"digests": [digest]}, headers=alex).content == (
        f"{digest} 3\n".encode() + b"two"
    )
    # Sam sees neither Alex's changes nor Alex's content, even knowing its hash.
    assert client.get("/api/travel/files/mine/changes", headers=sam).json()["changes"] == []
    assert client.post(fetch, json={"digests": [digest]}, headers=sam).status_code == 404
    assert client.post(fetch, json={"digests": ["../../node.key"]}, headers=alex).status_code == 404
    assert client.get("/api/travel/files/nowhere/changes", headers=alex).status_code == 404


def _frame(digest: str, data: bytes) -> bytes:
    return f"{digest} {len(data)}\n".encode() + data


def test_content_pushed_home_is_kept_only_if_it_is_what_it_claims(node: Node) -> None:
    add_member(node, "alex")
    alex, client = bearer(node, "alex"), browser(node)
    good = b"honest bytes"
    good_digest = hashlib.sha256(good).hexdigest()
    forged = _frame(hashlib.sha256(b"something else").hexdigest(), b"evil bytes")
    answer = client.post(
        "/api/travel/blobs/upload", content=_frame(good_digest, good) + forged, headers=alex
    )
    assert answer.status_code == 400 and "hashes to" in answer.json()["error"]
    assert node.blobs.exists(good_digest)  # what arrived whole and true is kept …
    assert not node.blobs.exists(hashlib.sha256(b"something else").hexdigest())
    assert not node.blobs.exists(hashlib.sha256(b"evil bytes").hexdigest())  # … a forgery is not
    cut = _frame(hashlib.sha256(b"x" * 1000).hexdigest(), b"x" * 1000)[:500]
    assert client.post("/api/travel/blobs/upload", content=cut, headers=alex).status_code == 400
    for garbage in (b"not a header\n", b"../../node.key 12\nAAAA", b"a" * 500):
        refused = client.post("/api/travel/blobs/upload", content=garbage, headers=alex)
        assert refused.status_code == 400, garbage
    assert list(node.blobs.temp_dir.iterdir()) == []  # nothing half-written stays
    assert client.post("/api/travel/blobs/upload", content=b"").status_code == 401


def test_applying_states_at_home_is_checked_path_by_path(node: Node) -> None:
    add_member(node, "alex")
    alex, client = bearer(node, "alex"), browser(node)
    digest = node.blobs.put(b"content")
    absent = hashlib.sha256(b"never sent").hexdigest()

    def put(path: str, blob: str | None = digest, expect: dict | None = None) -> dict:  # type: ignore[type-arg]
        change = {"path": path, "vector": {"sat": 1}, "blob": blob, "size": 7, "expect": expect}
        answer = client.post(
            "/api/travel/files/mine/apply", json={"changes": [change]}, headers=alex
        )
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    assert put("Voyage/a.txt")["applied"] == ["Voyage/a.txt"]
    assert put("Voyage/a.txt")["stale"] == ["Voyage/a.txt"]  # it exists now: not what was seen
    for hostile in ("../../etc/passwd", "/abs.txt", "a//b", "nul\x00.txt", ""):
        assert hostile in put(hostile)["refused"], hostile
    assert "has not arrived" in put("b.txt", absent)["refused"]["b.txt"]
    assert "not a content hash" in put("c.txt", "../../node.key")["refused"]["c.txt"]
    listing = client.get("/api/files/mine/Voyage", headers=alex).json()
    assert [entry["name"] for entry in listing["entries"]] == ["a.txt"]


def test_a_satellite_is_made_with_the_password_and_only_its_own_credential_ends_it(
    node: Node,
) -> None:
    add_member(node, "alex")
    client = browser(node)
    body = {"member": "alex", "password": "wrong", "name": "portable", "takes": ["notes"]}
    assert client.post("/api/travel/satellites", json=body).status_code == 401
    for _attempt in range(6):
        client.post("/api/travel/satellites", json=body)
    assert (
        client.post("/api/travel/satellites", json=body).status_code == 429
    )  # rate-limited like /login
    made = client.post("/api/travel/satellites", json={**body, "password": PASSWORD})
    assert made.status_code == 429 and int(made.headers["Retry-After"]) > 0  # paused a while


def test_only_the_satellite_credential_can_end_the_satellite(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    made = client.post(
        "/api/travel/satellites",
        json={"member": "alex", "password": PASSWORD, "name": "portable", "takes": ["notes"]},
    )
    assert made.status_code == 201
    satellite = {"Authorization": f"Bearer {made.json()['token']}"}
    plain = bearer(node, "alex")
    assert client.delete("/api/travel/satellites/self", headers=plain).status_code == 403
    assert client.delete("/api/travel/satellites/self", headers=satellite).status_code == 204
    assert client.get("/api/travel/files/mine/changes", headers=satellite).status_code == 401

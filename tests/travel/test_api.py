"""The home side of sync: changes since a sequence, and content by hash, for the member only."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

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
    digest = hashlib.sha256(b"content").hexdigest()
    sent = client.post("/api/travel/blobs/upload", content=_frame(digest, b"content"), headers=alex)
    assert sent.json()["stored"] == [digest]
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


# ---------------------------------------------------------------- a hash is no key


def _apply(client, headers, path: str, blob: str, size: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    change = {"path": path, "vector": {"sat": 1}, "blob": blob, "size": size, "expect": None}
    answer = client.post(
        "/api/travel/files/mine/apply", json={"changes": [change]}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_knowing_the_hash_of_a_private_file_gives_nothing_of_it(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    alex, sam, client = bearer(node, "alex"), bearer(node, "sam"), browser(node)
    secret = b"alex's diary, not for sam"
    assert client.put("/api/files/mine/diary.txt", content=secret, headers=alex).status_code == 201
    theirs = hashlib.sha256(secret).hexdigest()
    unknown = hashlib.sha256(b"nobody has this").hexdigest()

    # Asked which contents home holds, sam hears the same of alex's as of a content nobody has.
    missing = client.post(
        "/api/travel/blobs/missing", json={"digests": [theirs, unknown]}, headers=sam
    )
    assert missing.json() == {"missing": [theirs, unknown]}
    fetched = [
        client.post("/api/travel/blobs/fetch", json={"digests": [d]}, headers=sam)
        for d in (theirs, unknown)
    ]
    assert [answer.status_code for answer in fetched] == [404, 404]

    # Adopting it by hash is refused, in the very words used for a content that never came.
    refused = _apply(client, sam, "copy.txt", theirs, len(secret))
    assert refused["applied"] == [] and list(refused["refused"]) == ["copy.txt"]
    assert refused == _apply(client, sam, "copy.txt", unknown, len(secret))
    assert "has not arrived" in refused["refused"]["copy.txt"]
    assert client.get("/api/files/mine/copy.txt", headers=sam).status_code == 404
    assert client.get("/api/files/mine/", headers=sam).json()["entries"] == []
    assert (
        client.post("/api/travel/blobs/fetch", json={"digests": [theirs]}, headers=sam).status_code
        == 404
    )
    assert client.get("/api/files/mine/diary.txt", headers=alex).content == secret


def test_the_same_bytes_sent_by_their_holder_are_taken_and_kept_once(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    alex, sam, client = bearer(node, "alex"), bearer(node, "sam"), browser(node)
    data = b"the same holiday photo, taken by both"
    client.put("/api/files/mine/photo.jpg", content=data, headers=alex)
    digest = hashlib.sha256(data).hexdigest()
    sent = client.post("/api/travel/blobs/upload", content=_frame(digest, data), headers=sam)
    assert sent.json()["stored"] == [digest]
    # Having sent the bytes, sam holds them: home now says so, and takes them by hash.
    assert client.post(
        "/api/travel/blobs/missing", json={"digests": [digest]}, headers=sam
    ).json() == {"missing": []}
    assert _apply(client, sam, "photo.jpg", digest, len(data))["applied"] == ["photo.jpg"]
    assert client.get("/api/files/mine/photo.jpg", headers=sam).content == data
    stored = [path for path in node.blobs.root.rglob("*") if path.is_file() and path.name == digest]
    assert len(stored) == 1  # one copy for both


def test_a_file_shared_with_a_member_may_be_taken_by_hash(node: Node) -> None:
    from hameau.files import paths, shares
    from hameau.files import service as files

    add_member(node, "alex")
    add_member(node, "sam")
    alex, sam, client = bearer(node, "alex"), bearer(node, "sam"), browser(node)
    data = b"the flat's lease, shared read-only"
    client.post("/api/files/folders", json={"space": "mine", "path": "Papers"}, headers=alex)
    assert client.put("/api/files/mine/Papers/lease.pdf", content=data, headers=alex).is_success
    with transaction(node.sessions) as session:
        owner, reader = members.find_member(session, "alex"), members.find_member(session, "sam")
        folder = files.resolve(session, files.space(owner, "mine"), paths.split("Papers"))
        shares.share(session, owner, folder, reader)
    digest = hashlib.sha256(data).hexdigest()
    assert client.post(
        "/api/travel/blobs/missing", json={"digests": [digest]}, headers=sam
    ).json() == {"missing": []}
    assert _apply(client, sam, "lease.pdf", digest, len(data))["applied"] == ["lease.pdf"]
    assert client.get("/api/files/mine/lease.pdf", headers=sam).content == data


def test_a_note_pushed_under_another_members_note_id_is_refused(node: Node) -> None:
    from hameau.notes import service as notes

    add_member(node, "alex")
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        note = notes.create(session, members.find_member(session, "alex"), "Alex's list\n")
        uid, update = note.uid, notes.update_since(session, note, None)
    sam, client = bearer(node, "sam"), browser(node)
    push = {"uid": uid, "update": base64.b64encode(update).decode(), "deleted": True, "seen": ""}
    answer = client.post("/api/travel/notes/push", json={"notes": [push]}, headers=sam)
    assert answer.status_code == 409 and uid in answer.json()["error"]  # one sentence
    assert client.post("/api/travel/notes/offer", json={"notes": []}, headers=sam).json() == {
        "notes": []
    }
    with node.sessions() as session:
        kept_note = notes.by_uid(session, members.find_member(session, "alex"), uid)
        assert kept_note is not None and kept_note.deleted_at is None
        assert notes.text_of(session, kept_note) == "Alex's list\n"


def test_a_satellite_holding_the_same_bytes_as_another_member_syncs_them(
    tmp_path: Path,
) -> None:
    from tests.travel.sides import home_node, live, pack, write

    home = home_node(tmp_path / "home")
    photo = b"the same photo, on sam's account and on alex's laptop"
    write(home, "photo.jpg", photo, member="sam")
    write(home, "Voyage/plan.txt", b"plan")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    write(pair.sat, "Voyage/photo.jpg", photo)
    report = pair.sync()
    assert report.complete and report.problems == [] and report.pushed == 1
    assert report.bytes_out == len(photo)  # home said it lacked it: the bytes were sent
    assert live(home, under="Voyage")["Voyage/photo.jpg"] == photo
    assert live(home, member="sam") == {"photo.jpg": photo}
    assert pair.sync().pushed == 0


def test_content_sent_before_a_restart_is_proved_for_a_day_then_asked_again(node: Node) -> None:
    from sqlalchemy import update

    from hameau.travel.models import TravelProof

    add_member(node, "alex")
    alex, before = bearer(node, "alex"), browser(node)
    data = b"sent just before home restarted"
    digest = hashlib.sha256(data).hexdigest()
    before.post("/api/travel/blobs/upload", content=_frame(digest, data), headers=alex)
    after = browser(node)  # the same node, served again (or another of its processes)
    asked = after.post("/api/travel/blobs/missing", json={"digests": [digest]}, headers=alex)
    assert asked.json() == {"missing": []}  # the proof is in the database, not in memory
    with transaction(node.sessions) as session:  # a day later
        session.execute(update(TravelProof).values(proved=TravelProof.proved - 86_401))
    asked = after.post("/api/travel/blobs/missing", json={"digests": [digest]}, headers=alex)
    assert asked.json() == {"missing": [digest]}
    assert _apply(after, alex, "late.txt", digest, len(data))["refused"]
    after.post("/api/travel/blobs/upload", content=_frame(digest, data), headers=alex)
    assert _apply(after, alex, "late.txt", digest, len(data))["applied"] == ["late.txt"]


def test_the_size_recorded_is_the_contents_not_the_one_claimed(node: Node) -> None:
    add_member(node, "alex")
    alex, client = bearer(node, "alex"), browser(node)
    data = b"x" * 5000
    digest = hashlib.sha256(data).hexdigest()
    client.post("/api/travel/blobs/upload", content=_frame(digest, data), headers=alex)
    assert _apply(client, alex, "big.bin", digest, 0)["applied"] == ["big.bin"]  # claims 0 bytes
    listing = client.get("/api/files/mine/", headers=alex).json()["entries"]
    assert [(entry["name"], entry["size"]) for entry in listing] == [("big.bin", 5000)]

"""A satellite's notes sync (hameau/travel/api_notes.py) hands its bytes to the CRDT library,
which makes room for as many clients as their first number says before it reads them: a few
random bytes made a served node take 256–532 MB for one request. Against a real `hameau
serve` process: such updates and state vectors get 400 and a sentence, the node's peak memory
does not move by a fraction of that, and the member's note is as it was."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from pycrdt import Doc, Text

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from hameau.notes import service as notes
from tests.e2e.served import serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e

# Found by mutating real updates: each claims about 10⁸ clients or more in a few bytes.
UPDATES = ("e2af8c3c583071cc77fde6c156767891ecc76ce784a9fe386d28170702f5a3c493",
           "8ed1eea93154cddaf44ca34ab34663736ee84f3434d91ae84dbfa48fcb")  # fmt: skip
STATES = ("8ed1eea931", "e2af8c3c583071cc")


def peak_mb(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


def b64(hex_text: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_text)).decode()


def test_crdt_bytes_claiming_millions_of_clients_are_refused_without_the_memory(
    tmp_path: Path,
) -> None:
    node = make_node(tmp_path / "node")
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        alex = members.find_member(session, "alex")
        secret = tokens.create_token(session, alex, "portable")[1]
        note = notes.create(session, alex, "Liste : pain, lait\n")
        uid, update = note.uid, notes.update_since(session, note, None)
    node.close()
    auth = {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}
    with serve(tmp_path / "node") as served, httpx.Client(base_url=served.url) as client:
        good = {"uid": uid, "update": base64.b64encode(update).decode(), "deleted": False,
                "seen": ""}  # fmt: skip
        assert client.post("/api/travel/notes/push", json={"notes": [good]},
                           headers=auth).status_code == 204  # fmt: skip
        before = peak_mb(served.process.pid)
        for hostile in UPDATES:
            push = {**good, "uid": "hostile", "update": b64(hostile)}
            answer = client.post("/api/travel/notes/push", json={"notes": [push]}, headers=auth)
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"] == (
                "A note update from the other copy is not a valid CRDT update."
            )
        assert peak_mb(served.process.pid) - before < 100
        for hostile in STATES:
            offer = {"uid": uid, "state_vector": b64(hostile), "deleted": False}
            answer = client.post("/api/travel/notes/offer", json={"notes": [offer]}, headers=auth)
            assert answer.status_code == 400, answer.text  # was a 500, after the memory
            assert answer.json()["error"] == (
                "A note's state from the other copy is not a valid CRDT state."
            )
        assert peak_mb(served.process.pid) - before < 100
        offered = client.post("/api/travel/notes/offer", json={"notes": []}, headers=auth)
        replies = offered.json()["notes"]
        assert [reply["uid"] for reply in replies] == [uid]  # no note "hostile"
    copy = Doc()
    text = copy.get("body", type=Text)
    copy.apply_update(base64.b64decode(replies[0]["update"]))
    assert str(text) == "Liste : pain, lait\n"

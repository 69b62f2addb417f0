"""A move's refusals: the receiving admin refuses or accepts (no standing rule at B); the
receiver's routes refuse unsigned and forged requests, unknown moves, a member name taken,
a member too large for its disk, a stream of contents unsigned, replayed or whose record
does not hash to its name, each with one sentence, storing nothing of it; a stream cut short
keeps its whole records and goes on from the bytes there."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from hameau.accounts import members, tokens
from hameau.accounts.models import Member
from hameau.hamlet.signer import Signer
from hameau.hamlet.signing import node_id_of
from hameau.moving import stream
from hameau.node.db import transaction
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.test_moving import member_row
from tests.helpers import add_member
from tests.test_environment import opened

MOVES = "/api/hamlet/moves"


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Home]]:
    with hamlet(
        tmp_path_factory.mktemp("refusals"), names=("A", "B"), pairs=(("B", "A"),)
    ) as found:
        for name, members in (("A", ("zoe", "yann", "xavier", "taken")), ("B", ("taken",))):
            node = opened(found[name].data_dir)
            for member in members:
                add_member(node, member)
            node.close()
        yield found


def signed(by: Home, to: Home, key: Ed25519PrivateKey | None = None) -> httpx.Client:
    """A client signing as `by`'s node (or with another key: a forger)."""
    key = key or by.key()
    key_id = by.node_id if key is None else node_id_of(key.public_key().public_bytes_raw())
    return httpx.Client(
        base_url=to.url, auth=Signer(key_id, key, to.node_id, None),
        headers={"Accept-Language": "en"}, timeout=30, verify=to.verify,
    )  # fmt: skip


def move_id(said: str) -> str:
    found = re.search(r"Move ([0-9a-f]{20})", said)
    assert found, said
    return found.group(1)


def offer(**given: object) -> dict[str, object]:
    return {"move_id": secrets.token_hex(10), "member": "nobody", "bytes_total": 10, **given}


def test_the_receiving_admin_refuses_then_the_member_stays_home(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    started = a.run("move", "zoe", "--to", "B")
    assert started.returncode == 0 and "waits for B's acceptance" in started.stdout, started.stderr
    number = move_id(started.stdout)
    assert "waiting" in b.run("move", "status").stdout
    refused = b.run("move", "refuse", number, "--why", "no room for now")
    assert refused.returncode == 0, refused.stderr
    after = a.run("move", "resume", number)
    assert after.returncode != 0 and "refused" in after.stderr and "no room" in after.stderr
    zoe = member_row(a.data_dir, "zoe")
    assert zoe is not None and zoe.home_here and zoe.frozen_at is None
    assert member_row(b.data_dir, "zoe") is None
    again = b.run("move", "accept", number)
    assert again.returncode != 0 and "not waiting" in again.stderr


def test_the_receiving_admin_accepts_then_the_move_goes_on(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    number = move_id(a.run("move", "yann", "--to", "B").stdout)
    accepted = b.run("move", "accept", number)
    assert accepted.returncode == 0, accepted.stderr
    done = a.run("move", "resume", number)
    assert done.returncode == 0 and "yann moved to B" in done.stdout, done.stderr
    assert member_row(b.data_dir, "yann").home_here  # type: ignore[union-attr]


def test_an_accepted_move_runs_at_the_served_home_without_a_command(
    homes: dict[str, Home],
) -> None:
    """B's admin accepts; B tells A, whose served node runs the move by itself (no `move
    resume`, no page looked at): the member's home becomes B."""
    a, b = homes["A"], homes["B"]
    number = move_id(a.run("move", "xavier", "--to", "B").stdout)
    assert b.run("move", "accept", number).returncode == 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        arrived = member_row(b.data_dir, "xavier")
        if arrived is not None and arrived.home_here:
            break
        time.sleep(0.5)
    assert member_row(b.data_dir, "xavier").home_here, "the move did not run"  # type: ignore[union-attr]
    # A learns the switch from B's answer just after B commits (frozen meanwhile: never two
    # homes), so it may come a moment later.
    while time.monotonic() < deadline:
        left = member_row(a.data_dir, "xavier")
        if left is not None and left.moved_to:
            break
        time.sleep(0.5)
    left = member_row(a.data_dir, "xavier")
    assert left is not None and left.moved_to, "A does not forward to the new home"


def test_unsigned_and_forged_requests_are_refused(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    plain = httpx.post(b.url + MOVES, json=offer(), verify=b.verify)
    assert plain.status_code == 401
    with signed(a, b, Ed25519PrivateKey.generate()) as forger:
        assert forger.post(MOVES, json=offer()).status_code == 401
        assert forger.get(f"{MOVES}/{'0' * 20}").status_code == 401


def test_unknown_moves_and_taken_names_and_too_large_members(homes: dict[str, Home]) -> None:
    a, b = homes["A"], homes["B"]
    with signed(a, b) as peer:
        unknown = peer.get(f"{MOVES}/{'0' * 20}")
        assert unknown.status_code == 404 and "No move" in unknown.json()["error"]
        taken = peer.post(MOVES, json=offer(member="taken"))
        assert taken.status_code == 409 and "already lives" in taken.json()["error"]
        huge = peer.post(MOVES, json=offer(bytes_total=1 << 50))
        assert huge.status_code == 507 and "not enough" in huge.json()["error"]
        garbled = peer.post(MOVES, content=b"{not json")
        assert garbled.status_code == 400
        for odd in ({"member_since": "not a date"}, {"member": "../../etc"}, {"member": "a b"}):
            refused = peer.post(MOVES, json=offer(**odd))
            assert refused.status_code == 400 and refused.json()["error"], (odd, refused.text)


def stream_request(
    by: Home, to: Home, move: str, items: list[list[object]], data: bytes, signed: bool = True
) -> httpx.Request:
    """A stream of contents (hameau/moving/stream.py) from `by`, signed by its index."""
    from http_message_signatures import HTTPMessageSigner, algorithms

    from hameau.hamlet.signer import _OneKey
    from hameau.hamlet.signing import INDEX, sign

    line = stream.index_line(items)
    request = httpx.Request(
        "POST", f"{to.url}{MOVES}/contents/{move}", content=line + b"\n" + data,
        headers={INDEX: stream.index_digest(line), "Accept-Language": "en"},
    )  # fmt: skip
    if signed:
        keys = _OneKey(by.node_id, by.key())
        signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=keys)
        sign(signer, request, by.node_id, to.node_id, index=request.headers[INDEX])
    return request


def lacks(peer: httpx.Client, move: str, names: list[str]) -> dict[str, int]:
    return dict(peer.post(f"{MOVES}/{move}/lacking", json=names).json()["lacking"])


def test_a_stream_record_that_does_not_hash_to_its_name_is_not_stored(
    homes: dict[str, Home],
) -> None:
    a, b = homes["A"], homes["B"]
    given = offer()
    number = str(given["move_id"])
    good = b"a content that hashes to its name"
    name = hashlib.sha256(good).hexdigest()
    content = b"what the sender claims"
    claimed = hashlib.sha256(b"something else").hexdigest()
    with signed(a, b) as peer, httpx.Client(verify=b.verify, timeout=30) as plain:
        assert peer.post(MOVES, json=given).json()["state"] == "waiting"
        assert b.run("move", "accept", number).returncode == 0
        items = [[name, 0, len(good)], [claimed, 0, len(content)]]
        answer = plain.send(stream_request(a, b, number, items, good + content))
        assert answer.status_code == 400 and "does not hash" in answer.json()["error"]
        assert lacks(peer, number, [name, claimed]) == {claimed: 0}  # the good one is kept
        short = plain.send(stream_request(a, b, number, [[claimed, 0, 10]], b"xx"))
        assert short.status_code == 400 and "not as long" in short.json()["error"]
    node = opened(b.data_dir)
    try:
        assert not node.blobs.exists(claimed) and node.blobs.read(name) == good
    finally:
        node.close()


def test_a_cut_stream_keeps_its_whole_records_and_goes_on_from_the_bytes_there(
    homes: dict[str, Home],
) -> None:
    a, b = homes["A"], homes["B"]
    given = offer()
    number = str(given["move_id"])
    small, large = b"s" * 1000, secrets.token_bytes(3 << 20)
    names = [hashlib.sha256(data).hexdigest() for data in (small, large)]
    items = [[names[0], 0, len(small)], [names[1], 0, len(large)]]
    with signed(a, b) as peer, httpx.Client(verify=b.verify, timeout=30) as plain:
        assert peer.post(MOVES, json=given).json()["state"] == "waiting"
        assert b.run("move", "accept", number).returncode == 0
        cut = plain.send(stream_request(a, b, number, items, small + large[: 1 << 20]))
        assert cut.status_code == 400 and "not as long" in cut.json()["error"]
        assert lacks(peer, number, names) == {names[1]: 1 << 20}
        rest = [[names[1], 1 << 20, len(large)]]
        done = plain.send(stream_request(a, b, number, rest, large[1 << 20 :]))
        assert done.status_code == 200 and done.json()["verified"] == 2
        assert lacks(peer, number, names) == {}


def test_an_unsigned_replayed_or_otherwise_signed_stream_is_refused(
    homes: dict[str, Home],
) -> None:
    a, b = homes["A"], homes["B"]
    given = offer()
    number = str(given["move_id"])
    data = b"a content sent twice"
    name = hashlib.sha256(data).hexdigest()
    items = [[name, 0, len(data)]]
    with signed(a, b) as peer, httpx.Client(verify=b.verify, timeout=30) as plain:
        assert peer.post(MOVES, json=given).json()["state"] == "waiting"
        assert b.run("move", "accept", number).returncode == 0
        unsigned = plain.send(stream_request(a, b, number, items, data, signed=False))
        assert unsigned.status_code == 401
        whole_body = peer.post(  # signed by the body's digest, as other requests: not a stream
            f"{MOVES}/contents/{number}", content=stream.index_line(items) + b"\n" + data
        )
        assert whole_body.status_code == 401
        once = stream_request(a, b, number, items, data)
        assert plain.send(once).status_code == 200
        assert plain.send(once).status_code == 401  # the same nonce again: a replay
        other = stream_request(a, b, number, items, data)
        other.headers["Hameau-Index-Digest"] = stream.index_digest(b"{}")
        assert plain.send(other).status_code == 401  # the index is not the one signed


def test_the_plan_learns_nothing_of_what_a_peer_holds_before_it_accepts(
    homes: dict[str, Home],
) -> None:
    from hameau import export
    from hameau.accounts import members
    from hameau.moving import service
    from hameau.node.db import transaction
    from tests.test_environment import write

    a, b = homes["A"], homes["B"]
    node = opened(a.data_dir)
    try:
        node.assembled["environment"] = lambda: export
        with transaction(node.sessions) as session:
            write(node, session, members.find_member(session, "taken"), ["sea.jpg"], b"sea")
        assert service.plan(node, "taken", "B", ask_peer=True).missing_bytes is None
    finally:
        node.close()
    with signed(a, b) as peer:
        asked = peer.post(f"{MOVES}/plan/lacking", json=["0" * 64])
        assert asked.status_code == 403 and "accepted" in asked.json()["error"]
        given = offer()
        assert peer.post(MOVES, json=given).json()["state"] == "waiting"
        waiting = peer.post(f"{MOVES}/{given['move_id']}/lacking", json=["0" * 64])
        assert waiting.status_code == 409


def test_a_home_restarted_frozen_learns_the_outcome_and_unfreezes(homes: dict[str, Home]) -> None:
    """A move cut in its final phase that the receiver never committed: at the sender's next
    start, the member is home there again, not left frozen."""
    from hameau.hamlet.models import HamletPeer
    from hameau.moving.models import Move
    from hameau.node.db import transaction, utcnow

    a = homes["A"]
    node = opened(a.data_dir)
    try:
        add_member(node, "frozen")
        with transaction(node.sessions) as session:
            session.query(Member).filter_by(name="frozen").one().frozen_at = utcnow()
            peer = session.query(HamletPeer).filter_by(name="B").one()
            session.add(Move(move_id=secrets.token_hex(10), role="out", member_name="frozen",
                             peer_id=peer.id, state="switching", by="admin"))  # fmt: skip
    finally:
        node.close()
    a.restart()
    for _ in range(300):
        found = member_row(a.data_dir, "frozen")
        if found is not None and found.frozen_at is None:
            break
        time.sleep(0.1)
    assert found is not None and found.home_here and found.frozen_at is None
    assert "failed" in a.run("move", "status", "frozen").stdout


def _as_another(archive: bytes, name: str, created_at: str) -> bytes:
    """The archive with its profile saying it is `name`'s (joined at `created_at`), its
    manifest made to match: what a sender that turned hostile could commit."""
    import io
    import json
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "w") as packed:
        profile = {**json.loads(source.read("profile.json")), "name": name}
        profile["created_at"] = created_at
        changed = json.dumps(profile).encode()
        manifest = json.loads(source.read("manifest.json"))
        for entry in manifest["entries"]:
            if entry["path"] == "profile.json":
                entry.update(sha256=hashlib.sha256(changed).hexdigest(), size=len(changed))
        for info in source.infolist():
            if info.filename not in ("profile.json", "manifest.json"):
                packed.writestr(info.filename, source.read(info.filename))
        packed.writestr("profile.json", changed)
        packed.writestr("manifest.json", json.dumps(manifest))
    return out.getvalue()


def test_a_commit_of_another_members_archive_is_refused_and_theirs_kept(
    homes: dict[str, Home], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A move offered for one member whose archive names another, one living at B: B keeps
    that member's things as they are."""
    from hameau import export

    a, b = homes["A"], homes["B"]
    node = opened(b.data_dir)
    try:
        with transaction(node.sessions) as session:
            taken = members.find_member(session, "taken")
            joined, (_token, secret) = taken.created_at, tokens.create_token(session, taken, "dav")
    finally:
        node.close()
    kept, letter = b"taken's own letter", b.url + "/dav/files/mine/kept.txt"
    put = httpx.put(letter, content=kept, auth=("taken", secret), verify=b.verify)
    assert put.status_code == 201, put.text
    node = opened(a.data_dir)
    try:
        with node.sessions() as session:
            zoe = session.scalar(select(Member.id).where(Member.name == "zoe"))
        assert zoe is not None
        out = tmp_path_factory.mktemp("hostile") / "zoe.zip"
        export.export_member(node, zoe, out, by_reference=True)
    finally:
        node.close()
    data = _as_another(out.read_bytes(), "taken", joined.isoformat())
    digest = hashlib.sha256(data).hexdigest()
    given = offer(member="zoe")
    number = str(given["move_id"])
    with signed(a, b) as peer, httpx.Client(verify=b.verify, timeout=30) as plain:
        assert peer.post(MOVES, json=given).json()["state"] == "waiting"
        assert b.run("move", "accept", number).returncode == 0
        sent = plain.send(stream_request(a, b, number, [[digest, 0, len(data)]], data))
        assert sent.status_code == 200, sent.text
        commit = peer.post(f"{MOVES}/{number}/commit", json={"archive": digest})
        assert commit.status_code == 400 and "another member's" in commit.json()["error"]
        assert peer.get(f"{MOVES}/{number}").json()["state"] == "failed"
    still = httpx.get(letter, auth=("taken", secret), verify=b.verify)
    assert still.status_code == 200 and still.content == kept
    row = member_row(b.data_dir, "taken")
    assert row is not None and row.home_here and row.created_at == joined
    assert member_row(b.data_dir, "zoe") is None

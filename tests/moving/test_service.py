"""Moving home's service, as the pages call it: the plan (what moves, its size, an estimate)
and the refusals that need no peer."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hameau import export
from hameau.hamlet import service as hamlet
from hameau.hamlet.errors import PeerNotFound
from hameau.moving import service
from hameau.moving.errors import MoveConflict, MoveNotFound
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import make_node
from tests.test_environment import furnish


@pytest.fixture
def home(tmp_path: Path) -> Node:
    node = make_node(tmp_path / "home")
    node.assembled["environment"] = lambda: export
    furnish(node)
    key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with transaction(node.sessions) as db:
        hamlet.pin(db, base64.b64encode(key).decode(), "B", "https://b.example")
    yield node  # type: ignore[misc]
    node.close()


def test_the_plan_says_what_moves_part_by_part(home: Node) -> None:
    plan = service.plan(home, "alex", "B")
    names = [part.name for part in plan.parts]
    assert names == ["files", "calendar", "notes", "messages", "ai", "ledger", "accounts"]
    assert plan.total_bytes == sum(part.bytes for part in plan.parts) > 0
    files = plan.parts[0]
    assert files.bytes > 5000 and files.items > 5
    assert plan.missing_bytes is None and plan.estimate_seconds >= 0


def test_moving_an_unknown_member_or_to_an_unknown_peer_is_refused(home: Node) -> None:
    with pytest.raises(MoveNotFound):
        service.plan(home, "nobody", "B")
    with pytest.raises(PeerNotFound):
        service.start(home, "alex", "Z", by="admin")
    with pytest.raises(MoveNotFound):
        service.get(home, "0" * 20)
    with pytest.raises(MoveConflict, match="nothing to roll back"):
        service.rollback(home, "alex")
    assert service.moves(home) == []


def test_a_quota_past_what_the_database_holds_arrives_bounded() -> None:
    """The quota an archive carries (a peer's word) is kept within what a member may be
    given here: 2**80 bytes would not even fit the database's integer."""
    import io
    import json
    import zipfile

    from hameau.accounts.members import QUOTA_MB_MOST
    from hameau.moving import receiving

    for carried, expected in ((2**80, QUOTA_MB_MOST), (5 << 20, 5), (-3, 1)):
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as packed:
            packed.writestr("profile.json", json.dumps({"quota_bytes": carried}))
        assert receiving._quota(receiving._profile(data)) == expected, carried


def test_the_receivers_count_is_taken_only_as_a_count(home: Node) -> None:
    """The count of contents verified comes in the receiver's answers (a peer's word): a
    text, a number past what the database holds or a smaller count leaves this home's own;
    a larger one is taken."""
    from sqlalchemy import select

    from hameau.hamlet.models import HamletPeer
    from hameau.moving import transfer
    from hameau.moving.models import Move

    with transaction(home.sessions) as db:
        peer = db.scalars(select(HamletPeer)).one()
        db.add(Move(move_id="c" * 20, role="out", member_name="alex", peer_id=peer.id,
                    state="switching", by="admin", verified=5))  # fmt: skip
        db.expunge(peer)
    move = service.get(home, "c" * 20)
    for answer in ({"verified": "lots"}, {"verified": 2**70}, {"verified": True},
                   {"verified": 3}, None, []):  # fmt: skip
        assert transfer.counted(answer, move.verified) == 5, answer
    done = transfer.finish(home, move, peer, {"verified": 2**70})
    assert done.verified == 5 and done.state == "done"
    assert transfer.counted({"verified": 9}, 5) == 9

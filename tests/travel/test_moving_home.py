"""A satellite whose member is moving home: while frozen, its push is refused and nothing is
written at home (its changes stay on the laptop); once the freeze ends, they go home."""

from __future__ import annotations

from pathlib import Path

import pytest

from hameau.accounts import members
from hameau.moving import doors
from hameau.node.db import transaction
from hameau.travel.home import SyncFailed
from tests.travel.sides import home_node, live, pack, write


def test_a_frozen_members_satellite_push_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"a")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    write(pair.sat, "Voyage/b.txt", b"written on the train")
    with transaction(home.sessions) as session:
        doors.freeze(session, members.find_member(session, "alex"))
    with pytest.raises(SyncFailed) as refused:
        pair.sync()
    # The one sentence, in the home's language (French here: no Accept-Language was sent).
    assert str(refused.value) == (
        "The home node answered 503: Vos affaires déménagent vers un autre foyer ; réessayez"
        " dans une minute."
    )
    assert "Voyage/b.txt" not in live(home)
    assert live(pair.sat, under="Voyage")["Voyage/b.txt"] == b"written on the train"
    with transaction(home.sessions) as session:
        doors.unfreeze(session, members.find_member(session, "alex"))
    pair.sync()
    assert live(home)["Voyage/b.txt"] == b"written on the train"

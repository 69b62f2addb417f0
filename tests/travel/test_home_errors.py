"""What a satellite's member reads when home fails, through the one node-to-node client:
home answering an error, or something that is not JSON (real local servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hameau import trips
from hameau.errors import HameauError
from hameau.travel import sync
from hameau.travel.home import client_for
from tests.node.test_peer import server
from tests.travel.sides import home_node, live, pack, write


def test_home_failing_says_so_and_local_work_stays(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"a")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    write(pair.sat, "Voyage/b.txt", b"written away")
    with server() as url:
        for path, said in (
            ("/boom", "The home node answered 503: The model is loading; try again."),
            ("/garbled", f"The server at {url}/garbled answered something that is not JSON."),
        ):
            pair.satellite.home = url + path  # every call of the sync lands on that answer
            with (
                client_for(pair.satellite, timeout=5) as client,
                pytest.raises(HameauError) as failed,
            ):
                sync.sync(pair.sat, pair.satellite, client, domains=trips.domains())
            assert str(failed.value) == said and failed.value.status == 502
            assert pair.satellite.last_error == said
    assert live(pair.sat, under="Voyage")["Voyage/b.txt"] == b"written away"
    assert "Voyage/b.txt" not in live(home)

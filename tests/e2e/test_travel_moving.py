"""A satellite re-points at its next sync when its member moved home: real processes (two
homes served, a satellite packed from the first by the `hameau` command). The old home answers
the satellite's authenticated calls with a 308 naming the new home; the satellite records it,
syncs there from then on, and `hameau travel status` says so."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.served import serve
from tests.e2e.test_moving_doors import app_password, set_home
from tests.e2e.test_travel import PASSWORD, add_member, hameau, make_node, names, request

pytestmark = pytest.mark.e2e


def test_a_satellite_follows_its_member_to_the_new_home(tmp_path: Path) -> None:
    old_dir, new_dir, sat_dir = tmp_path / "old", tmp_path / "new", tmp_path / "sat"
    for root in (old_dir, new_dir):
        node = make_node(root)
        add_member(node, "alex")
        node.close()
    with serve(old_dir) as old, serve(new_dir) as new:
        token = app_password(old_dir, "alex")
        app_password(new_dir, "alex", token)
        for home in (old, new):
            folder = json.dumps({"space": "mine", "path": "Voyage"}).encode()
            made = urllib.request.Request(f"{home.url}/api/files/folders", folder, method="POST")
            made.add_header("Authorization", f"Bearer {token}")
            made.add_header("Content-Type", "application/json")
            urllib.request.urlopen(made, timeout=10)
            request(f"{home.url}/api/files/mine/Voyage/plan.txt", token, "PUT", b"day 1: Lyon")
        packed = hameau(
            "travel", "pack", "--from", old.url, "--member", "alex", "--take", "files:mine/Voyage",
            "--name", "portable", "--data-dir", str(sat_dir), env={"HAMEAU_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert packed.returncode == 0, packed.stderr
        # The move (move-core's part): the satellite's credential went along, as every one.
        own = json.loads((sat_dir / "satellite.json").read_text())["token"]
        app_password(new_dir, "alex", own)
        request(f"{new.url}/api/files/mine/Voyage/musees.txt", token, "PUT", b"at the new home")
        set_home(old_dir, "alex", "moved", new.url)

        told = hameau("travel", "status", "--data-dir", str(sat_dir))
        assert told.returncode == 0, told.stderr
        assert f"your home moved to {new.url}" in told.stdout
        synced = hameau("travel", "sync", "--data-dir", str(sat_dir))
        assert synced.returncode == 0, synced.stderr
        record = json.loads((sat_dir / "satellite.json").read_text())
        assert record["home"] == new.url
        status = hameau("travel", "status", "--data-dir", str(sat_dir))
        assert (
            f"of {new.url}" in status.stdout and f"Home moved: {old.url} said so" in status.stdout
        )
        with serve(sat_dir) as sat:
            here = app_password(sat_dir, "alex")
            assert names(sat.url, here, "Voyage") == ["musees.txt", "plan.txt"]
            request(f"{sat.url}/api/files/mine/Voyage/carnet.txt", here, "PUT", b"on the train")
        assert hameau("travel", "sync", "--data-dir", str(sat_dir)).returncode == 0
        assert "carnet.txt" in names(new.url, token, "Voyage")
    # Nothing of it was written at the old home.
    with serve(old_dir) as old:
        set_home(old_dir, "alex", "home")  # to read the old copy as its member
        assert names(old.url, token, "Voyage") == ["plan.txt"]

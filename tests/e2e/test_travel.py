"""Travel with real processes: a home node served, a satellite packed and served by the
`hameau` command, syncing by itself, the home going away and coming back, and return."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import free_port, login_cookie, serve
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e


def hameau(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hameau", *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def request(url: str, token: str, method: str = "GET", body: bytes | None = None) -> bytes:
    made = urllib.request.Request(url, data=body, method=method)
    made.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(made, timeout=10) as answer:
        return answer.read()


def names(url: str, token: str, folder: str) -> list[str]:
    listing = json.loads(request(f"{url}/api/files/mine/{folder}", token))
    return sorted(entry["name"] for entry in listing["entries"])


def eventually(check: Callable[[], bool], seconds: float = 60) -> bool:
    """Wait for something the node does by itself (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def app_password(data_dir: Path, name: str = "alex") -> str:
    from hameau.config import Settings
    from hameau.node.datadir import open_node

    node = open_node(Settings(data_dir=data_dir))
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, name), "test")[1]
    node.close()
    return secret


def test_a_trip_from_pack_to_return(tmp_path: Path) -> None:
    home_dir, sat_dir = tmp_path / "home", tmp_path / "sat"
    node = make_node(home_dir)
    add_member(node, "alex")
    node.close()
    token = app_password(home_dir)
    port = free_port()
    quick = {"HAMEAU_TRAVEL_RETRY_SECONDS": "1"}
    with serve(home_dir, port=port) as home:
        folder = json.dumps({"space": "mine", "path": "Voyage"}).encode()
        made = urllib.request.Request(f"{home.url}/api/files/folders", data=folder, method="POST")
        made.add_header("Authorization", f"Bearer {token}")
        made.add_header("Content-Type", "application/json")
        urllib.request.urlopen(made, timeout=10)
        request(f"{home.url}/api/files/mine/Voyage/plan.txt", token, "PUT", b"day 1: Lyon")
        request(f"{home.url}/api/files/mine/Voyage/billets.txt", token, "PUT", b"train 8h12")
        request(f"{home.url}/api/files/mine/Impots.txt", token, "PUT", b"stays home")
        wrong = hameau(
            "travel", "pack", "--from", home.url, "--member", "alex", "--take", "files:mine/Nulle-part",
            "--data-dir", str(sat_dir), env={"HAMEAU_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert wrong.returncode == 1 and "no folder 'Nulle-part'" in wrong.stderr
        assert len(wrong.stderr.strip().splitlines()) == 1 and not sat_dir.exists()
        packed = hameau(
            "travel", "pack", "--from", home.url, "--member", "alex", "--take", "files:mine/Voyage",
            "--take", "notes", "--name", "portable", "--data-dir", str(sat_dir),
            env={"HAMEAU_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert packed.returncode == 0, packed.stderr
        assert "2 change(s) brought here" in packed.stdout
        here = app_password(sat_dir)
        with serve(sat_dir, env=quick) as sat:
            assert names(sat.url, here, "Voyage") == ["billets.txt", "plan.txt"]
            with pytest.raises(urllib.error.HTTPError):
                request(f"{sat.url}/api/files/mine/Impots.txt", here)
            cookie = login_cookie(sat.url, "alex", PASSWORD)
            page = urllib.request.Request(
                f"{sat.url}/files/mine/Voyage/", headers={"Cookie": f"hameau_session={cookie}"}
            )
            assert "Satellite" in urllib.request.urlopen(page).read().decode()
            # A change here reaches home by itself, and one at home comes here.
            request(
                f"{sat.url}/api/files/mine/Voyage/carnet.txt", here, "PUT", b"written on the train"
            )
            assert eventually(lambda: "carnet.txt" in names(home.url, token, "Voyage"))
            # Both sides edit the same file: both versions are kept, flagged on both sides.
            request(
                f"{sat.url}/api/files/mine/Voyage/plan.txt",
                here,
                "PUT",
                b"day 1: Lyon, day 2: Dijon",
            )
            request(
                f"{home.url}/api/files/mine/Voyage/plan.txt",
                token,
                "PUT",
                b"day 1: Lyon (hotel booked)",
            )
            synced = hameau("travel", "sync", "--data-dir", str(sat_dir))
            assert synced.returncode == 0 or "Another sync" in synced.stderr, synced.stderr

            def both_have_the_conflict() -> bool:
                return all(
                    any("(conflit portable" in name for name in names(url, key, "Voyage"))
                    for url, key in ((home.url, token), (sat.url, here))
                )

            assert eventually(both_have_the_conflict)
            home_cookie = login_cookie(home.url, "alex", PASSWORD)
            listing = urllib.request.Request(
                f"{home.url}/files/mine/Voyage/",
                headers={"Cookie": f"hameau_session={home_cookie}"},
            )
            assert 'class="badge conflict"' in urllib.request.urlopen(listing).read().decode()
    # Home is away: a clear message, and local work goes on.
    with serve(sat_dir, env=quick) as sat:
        request(f"{sat.url}/api/files/mine/Voyage/hors-ligne.txt", here, "PUT", b"no network here")
        down = hameau("travel", "sync", "--data-dir", str(sat_dir))
        assert down.returncode == 1
        assert "cannot be reached" in down.stderr and "stay here" in down.stderr
        status = hameau("travel", "status", "--data-dir", str(sat_dir))
        assert status.returncode == 0 and "cannot be reached now" in status.stdout
        assert "Voyage/hors-ligne.txt" in status.stdout
        # Home comes back on the same address: the satellite notices by itself (backoff, no busy loop).
        with serve(home_dir, port=port) as home:
            assert eventually(lambda: "hors-ligne.txt" in names(home.url, token, "Voyage"))
    # Back for good.
    own = json.loads((sat_dir / "satellite.json").read_text())["token"]
    with serve(home_dir, port=port) as home:
        assert request(f"{home.url}/api/travel/files/mine/changes", own)
        back = hameau("travel", "return", "--data-dir", str(sat_dir))
        assert back.returncode == 0, back.stderr
        assert not sat_dir.exists()
        assert "hors-ligne.txt" in names(home.url, token, "Voyage")
        with pytest.raises(urllib.error.HTTPError) as refused:  # its credential is revoked
            request(f"{home.url}/api/travel/files/mine/changes", own)
        assert refused.value.code == 401


def test_concurrent_writers_never_share_a_sequence_number(tmp_path: Path) -> None:
    """Parallel WebDAV PUTs to a served home: each change gets its own journal number, so a
    satellite paging the changes one at a time (a page may end anywhere) misses none."""
    import sqlite3
    from base64 import b64encode
    from concurrent.futures import ThreadPoolExecutor

    from hameau import trips
    from hameau.node.datadir import Layout
    from hameau.travel import lifecycle, sync
    from hameau.travel.home import http_client

    home_dir = tmp_path / "home"
    node = make_node(home_dir)
    add_member(node, "alex")
    node.close()
    basic = "Basic " + b64encode(f"alex:{app_password(home_dir)}".encode()).decode()

    def dav(url: str, method: str, body: bytes | None = None) -> int:
        made = urllib.request.Request(url, data=body, method=method)
        made.add_header("Authorization", basic)
        with urllib.request.urlopen(made, timeout=30) as answer:
            return answer.status

    count = 240
    with serve(home_dir) as home:
        assert dav(f"{home.url}/dav/files/mine/Voyage/", "MKCOL") == 201
        with ThreadPoolExecutor(8) as pool:
            put = lambda n: dav(f"{home.url}/dav/files/mine/Voyage/{n}.txt", "PUT", b"%d" % n)  # noqa: E731
            assert set(pool.map(put, range(count))) <= {201, 204}
        database = Layout(home_dir).database
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            numbers = [seq for (seq,) in db.execute("SELECT seq FROM sync_entries")]
        assert len(numbers) == count and len(set(numbers)) == count
        with http_client(home.url) as client:
            sat, satellite = lifecycle.pack(
                home.url, "alex", PASSWORD, ["files:mine/Voyage"], tmp_path / "sat", "lap", client
            )
            report = sync.sync(sat, satellite, client, page_size=1, domains=trips.domains())
        assert report.complete and report.pulled == count
    with sat.sessions() as session:
        from hameau.files import journal

        alex = members.find_member(session, "alex")
        assert len(journal.changes_since(session, alex.id, 0)) == count
    sat.close()


def test_conflict_copies_are_dated_in_the_homes_time_zone(tmp_path: Path) -> None:
    """Home keeps Kathmandu's time (UTC+5:45), the laptop UTC: the copy says home's time."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from hameau.config import Settings
    from hameau.node.datadir import open_node
    from tests.travel.sides import write

    home_dir, sat_dir, zone = tmp_path / "home", tmp_path / "sat", "Asia/Kathmandu"
    node = make_node(home_dir)
    add_member(node, "alex")
    write(node, "Voyage/plan.txt", b"v1")
    node.close()
    token = app_password(home_dir)
    laptop = {"HAMEAU_PASSWORD": PASSWORD, "TZ": "UTC"}
    with serve(home_dir, env={"TZ": zone}) as home:
        packed = hameau(
            "travel", "pack", "--from", home.url, "--member", "alex", "--take", "files:mine/Voyage",
            "--name", "portable", "--data-dir", str(sat_dir), env=laptop,
        )  # fmt: skip
        assert packed.returncode == 0, packed.stderr
        request(f"{home.url}/api/files/mine/Voyage/plan.txt", token, "PUT", b"edited at home")
        sat = open_node(Settings(data_dir=sat_dir))
        write(sat, "Voyage/plan.txt", b"edited away")
        sat.close()
        before = datetime.now(ZoneInfo(zone))
        synced = hameau("travel", "sync", "--data-dir", str(sat_dir), env=laptop)
        after = datetime.now(ZoneInfo(zone))
        assert synced.returncode == 0, synced.stderr
        [copy] = [name for name in names(home.url, token, "Voyage") if "(conflit" in name]
    assert any(f"(conflit portable {moment:%Y-%m-%d %Hh%M})" in copy for moment in (before, after))


def test_a_served_satellite_never_syncs_a_store_that_is_not_there(tmp_path: Path) -> None:
    """The satellite's content disk goes away while it is served and its member goes on
    writing: it syncs by itself, refuses, and says why on its travel page and in status."""
    from tests.travel.sides import write

    home_dir, sat_dir = tmp_path / "home", tmp_path / "sat"
    node = make_node(home_dir)
    add_member(node, "alex")
    write(node, "Voyage/a.txt", b"precious")
    node.close()
    token = app_password(home_dir)
    with serve(home_dir) as home:
        packed = hameau(
            "travel", "pack", "--from", home.url, "--member", "alex", "--take", "files:mine/Voyage",
            "--data-dir", str(sat_dir), env={"HAMEAU_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert packed.returncode == 0, packed.stderr
        here = app_password(sat_dir)
        with serve(sat_dir, env={"HAMEAU_TRAVEL_RETRY_SECONDS": "1"}) as sat:
            store = sat_dir / "blobs"
            store.rename(tmp_path / "elsewhere")  # its disk is unplugged
            (store / "tmp").mkdir(parents=True)
            request(f"{sat.url}/api/files/mine/Voyage/new.txt", here, "PUT", b"written meanwhile")
            cookie = login_cookie(sat.url, "alex", PASSWORD)

            def page() -> str:
                travel = urllib.request.Request(
                    f"{sat.url}/travel", headers={"Cookie": f"hameau_session={cookie}"}
                )
                return urllib.request.urlopen(travel, timeout=10).read().decode()

            assert eventually(lambda: "lost its marker file" in page())  # its own attempt
            assert "Synchronisation refusée" in page()
            assert names(home.url, token, "Voyage") == ["a.txt"]
            status = hameau("travel", "status", "--data-dir", str(sat_dir))
            assert status.returncode == 0 and "Sync refused" in status.stdout
            for _attempt in range(5):  # the satellite's own sync may hold the lock just then
                synced = hameau("travel", "sync", "--data-dir", str(sat_dir))
                if "Another sync" not in synced.stderr:
                    break
            assert synced.returncode == 1 and "marker file" in synced.stderr

"""Every `hameau` command that fails says so: an exit code other than 0 and one line on
standard error saying what to do. Each case runs the real command in its own process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hameau.accounts import devices, members
from hameau.config import Settings
from hameau.node.datadir import open_node
from hameau.node.db import transaction
from tests.e2e.served import Served, free_port, serve
from tests.helpers import PASSWORD, add_member, make_node
from tests.travel.sides import write

pytestmark = pytest.mark.e2e


def hameau(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hameau", *args],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, "HAMEAU_PASSWORD": PASSWORD, **env},
    )  # fmt: skip


def fails(done: subprocess.CompletedProcess[str], says: str) -> None:
    """Not 0, one line on stderr (no traceback), and that line says ``says``."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert len(lines) == 1, done.stderr
    assert says.lower() in lines[0].lower(), lines[0]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("exit")
    node = make_node(root / "home")
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        members.add_member(session, "tina", PASSWORD, quota_bytes=300_000)  # a tight quota
        devices.add_device(session, "Cuisine", "terminal", True)
    write(node, "Voyage/plan.txt", b"day 1", member="tina")
    node.close()
    with serve(root / "home") as served:
        yield served


@pytest.fixture(scope="module")
def satellite(home: Served) -> Path:
    """A satellite of tina's, packed by the real command; tests work on copies of it."""
    target = home.data_dir.parent / "sat"
    packed = hameau(
        "travel", "pack", "--from", home.url, "--member", "tina", "--take", "files:mine/Voyage",
        "--data-dir", str(target),
    )  # fmt: skip
    assert packed.returncode == 0, packed.stderr
    return target


def copy_of(satellite: Path, tmp_path: Path) -> Path:
    target = tmp_path / "sat"
    shutil.copytree(satellite, target)
    return target


def test_node_and_account_commands(home: Served, tmp_path: Path) -> None:
    data = ["--data-dir", str(home.data_dir)]
    nowhere = ["--data-dir", str(tmp_path / "empty")]
    (tmp_path / "a-file").write_text("not a folder")
    fails(hameau("init", "--name", "X", "--data-dir", str(tmp_path / "a-file" / "n")), "a-file")
    fails(hameau("serve", *nowhere), "hameau init")
    fails(hameau("demo", *data), "not a demo")
    fails(hameau("export", "nobody", "--out", str(tmp_path / "x.zip"), *data), "nobody")
    fails(hameau("export", "alex", "--out", str(tmp_path / "a-file"), *data), "exists already")
    fails(hameau("member", "add", "alex", "--password-stdin", *data, stdin="pw12345678\n"), "alex")
    fails(hameau("member", "list", *nowhere), "hameau init")
    fails(hameau("member", "disable", "nobody", *data), "nobody")
    fails(hameau("member", "enable", "nobody", *data), "nobody")
    fails(hameau("token", "create", "nobody", "--label", "x", *data), "nobody")
    fails(hameau("token", "list", "nobody", *data), "nobody")
    fails(hameau("token", "revoke", "999", *data), "999")
    fails(hameau("device", "add", "Tel", "--kind", "phone", *data), "--shared or --personal")
    fails(hameau("device", "list", *nowhere), "hameau init")
    fails(hameau("device", "enrol-link", "Nothing", *data), "Nothing")
    fails(hameau("ai", "models", *nowhere), "hameau init")
    fails(hameau("ai", "ask", "why?", "--member", "nobody", *data), "nobody")
    bare = tmp_path / "bin"
    bare.mkdir()
    fails(
        hameau("ai", "install-server", PATH=str(bare), XDG_CACHE_HOME=str(tmp_path / "cache")),
        "cmake",
    )


def test_usage_mistakes(home: Served) -> None:
    fails(hameau("nope"), "No such command")
    fails(hameau("travel", "pack", "--member", "alex"), "See `hameau travel pack --help`")
    fails(hameau("token", "revoke", "one", "--data-dir", str(home.data_dir)), "integer")
    past = str(2**64)  # more than the database holds: it was a traceback
    fails(hameau("token", "revoke", past, "--data-dir", str(home.data_dir)), "not in the range")
    bare = hameau()  # the help, and nothing said as an error
    assert "Usage" in bare.stdout and bare.stderr == ""


def test_travel_commands_refused_before_anything_is_done(home: Served, tmp_path: Path) -> None:
    data = ["--data-dir", str(home.data_dir)]
    for command in ("sync", "status", "return"):
        fails(hameau("travel", command, *data), "not a satellite")
    pack = ["travel", "pack", "--member", "tina", "--data-dir", str(tmp_path / "sat")]
    fails(hameau(*pack, "--from", home.url, "--take", "files:mine/Voyage",
                 HAMEAU_PASSWORD="wrong password"), "password")  # fmt: skip
    fails(hameau(*pack, "--from", home.url, "--take", "passwords"), "not something to take")
    fails(hameau(*pack, "--from", home.url, "--take", "files:mine/Nowhere"), "no folder")
    away = f"http://127.0.0.1:{free_port()}"
    unreachable = hameau(*pack, "--from", away, "--take", "files:mine/Voyage")
    fails(unreachable, "cannot be reached")
    assert "next sync" not in unreachable.stderr and "nothing was packed" in unreachable.stderr
    assert not (tmp_path / "sat").exists()
    fails(hameau(*pack[:-1], str(home.data_dir), "--from", home.url, "--take", "notes"),
          "already holds a node")  # fmt: skip


def test_a_sync_that_could_not_send_everything_fails(
    home: Served, satellite: Path, tmp_path: Path
) -> None:
    """tina's quota at home has no room for a big file written away: sync and return fail,
    and say which file and why; the others still reach home."""
    sat = copy_of(satellite, tmp_path)
    node = open_node(Settings(data_dir=sat))
    write(node, "Voyage/film.bin", os.urandom(600_000), member="tina")
    write(node, "Voyage/small.txt", b"fits", member="tina")
    node.close()
    synced = hameau("travel", "sync", "--data-dir", str(sat))
    fails(synced, "not everything")
    assert "Voyage/film.bin" in synced.stdout and "quota" in synced.stdout
    assert "blob" not in synced.stdout + synced.stderr
    back = hameau("travel", "return", "--data-dir", str(sat))
    fails(back, "nothing was wiped")
    assert sat.exists()
    listing = hameau("travel", "status", "--data-dir", str(sat))
    assert listing.returncode == 0 and "film.bin" in listing.stdout


def test_travel_sync_with_home_away_fails(satellite: Path, tmp_path: Path) -> None:
    sat = copy_of(satellite, tmp_path)
    record = json.loads((sat / "satellite.json").read_text())
    record["home"] = f"http://127.0.0.1:{free_port()}"
    (sat / "satellite.json").write_text(json.dumps(record))
    fails(hameau("travel", "sync", "--data-dir", str(sat)), "cannot be reached")
    fails(hameau("travel", "return", "--data-dir", str(sat)), "cannot be reached")
    assert sat.exists()

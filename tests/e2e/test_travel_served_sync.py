"""`hameau travel sync` on a served satellite: the served process syncs (travel/control.py),
the command prints its outcome; with no satellite served it syncs by itself as before. Real
processes: a home and a satellite served, the command run as a member runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hameau.travel import control
from tests.blackhole import Blackhole
from tests.e2e.served import Served, serve
from tests.e2e.test_travel import app_password, hameau, names, request
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not control.available(), reason="no SO_PEERCRED here: no control socket"),
]
# `python -m hameau`, writing the names of the modules it loaded to the file last on its line.
RUN = (
    "import atexit, sys; out = sys.argv.pop(); atexit.register(lambda: open(out, 'w').write("
    "'\\n'.join(sys.modules))); from hameau.__main__ import main; sys.exit(main())"
)


@contextmanager
def trip(tmp_path: Path) -> Iterator[tuple[Served, str, Path]]:
    """A home served with alex's Voyage folder, and a satellite packed from it (not served)."""
    home_dir, sat_dir = tmp_path / "home", tmp_path / "sat"
    node = make_node(home_dir)
    add_member(node, "alex")
    node.close()
    token = app_password(home_dir)
    with serve(home_dir) as home:
        folder = json.dumps({"space": "mine", "path": "Voyage"}).encode()
        made = urllib.request.Request(f"{home.url}/api/files/folders", data=folder, method="POST")
        made.add_header("Authorization", f"Bearer {token}")
        made.add_header("Content-Type", "application/json")
        urllib.request.urlopen(made, timeout=10)
        request(f"{home.url}/api/files/mine/Voyage/plan.txt", token, "PUT", b"day 1: Lyon")
        packed = hameau(
            "travel", "pack", "--from", home.url, "--member", "alex", "--take", "files:mine/Voyage",
            "--data-dir", str(sat_dir), env={"HAMEAU_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert packed.returncode == 0, packed.stderr
        yield home, token, sat_dir


def sync(sat_dir: Path, listing: Path) -> subprocess.CompletedProcess[str]:
    """`hameau travel sync`, the modules it loaded written to ``listing``."""
    return subprocess.run(
        [sys.executable, "-c", RUN, "travel", "sync", "--data-dir", str(sat_dir), str(listing)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def eventually(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_the_served_satellite_syncs_for_the_command(tmp_path: Path) -> None:
    with trip(tmp_path) as (home, token, sat_dir), serve(sat_dir) as sat:
        here = app_password(sat_dir)
        assert eventually(lambda: (sat_dir / control.SOCKET).exists())
        request(f"{home.url}/api/files/mine/Voyage/billets.txt", token, "PUT", b"train 8h12")
        done = sync(sat_dir, tmp_path / "modules.txt")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("Synced: ") and "sent home" in done.stdout
        assert names(sat.url, here, "Voyage") == ["billets.txt", "plan.txt"]
        loaded = (tmp_path / "modules.txt").read_text().splitlines()
        # Nor the command line's machinery: the served satellite answers before it loads.
        heavy = ("sqlalchemy", "httpx", "click", "rich", "hameau.cli", "hameau.parts",
                 "hameau.config", "dataclasses")  # fmt: skip
        assert [name for name in loaded if name.startswith(heavy)] == []
        # Home away: the served satellite's sentence, one line, exit 1.
        home.process.send_signal(signal.SIGTERM)
        home.process.wait(timeout=15)
        down = sync(sat_dir, tmp_path / "modules.txt")
        assert down.returncode == 1
        assert "cannot be reached" in down.stderr and len(down.stderr.strip().splitlines()) == 1


def test_with_no_satellite_served_the_command_syncs_by_itself(tmp_path: Path) -> None:
    with trip(tmp_path) as (home, token, sat_dir):
        with serve(sat_dir) as sat:  # killed: its socket stays behind, nobody listening
            assert eventually(lambda: (sat_dir / control.SOCKET).exists())
            sat.process.kill()
            sat.process.wait()
        request(f"{home.url}/api/files/mine/Voyage/billets.txt", token, "PUT", b"train 8h12")
        done = sync(sat_dir, tmp_path / "modules.txt")
        assert done.returncode == 0, done.stderr
        assert "1 change(s) brought here" in done.stdout
        assert "sqlalchemy.orm" in (tmp_path / "modules.txt").read_text().splitlines()
        with serve(sat_dir) as sat:
            assert "billets.txt" in names(sat.url, app_password(sat_dir), "Voyage")


def _sockets(pid: int) -> int:
    """The sockets a process holds open."""
    folder = Path(f"/proc/{pid}/fd")
    try:
        return sum(os.readlink(folder / fd).startswith("socket:") for fd in os.listdir(folder))
    except FileNotFoundError:
        return 0


def test_a_served_satellite_that_dies_mid_sync_is_said(tmp_path: Path) -> None:
    """Home answers nothing (a blackhole), so the served sync hangs; the served satellite is
    killed while the command waits on it: one line, exit 1."""
    with trip(tmp_path) as (_home, _token, sat_dir):
        pass
    hole = Blackhole()
    record = sat_dir / "satellite.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "home": hole.url}))
    with serve(sat_dir) as sat:
        assert eventually(lambda: (sat_dir / control.SOCKET).exists())
        command = subprocess.Popen(
            [sys.executable, "-m", "hameau", "travel", "sync", "--data-dir", str(sat_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert eventually(lambda: _sockets(command.pid) > 0)
        sat.process.kill()
        _out, err = command.communicate(timeout=60)
    assert command.returncode == 1
    assert "stopped before its sync ended" in err and len(err.strip().splitlines()) == 1


SYSTEM_PYTHON = "/usr/bin/python3"  # the venv's may sit where another user cannot run it
# The refusal may come before the request is sent (a broken pipe then): it is read anyway.
ASK = """import contextlib, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
with contextlib.suppress(BrokenPipeError):
    s.sendall(b'{"do": "sync"}\\n')
print(s.recv(4096).decode())
"""
# A served satellite's impostor: a socket of another user's, answering a report to anyone.
IMPOSTOR = (
    "import os, socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]);"
    "os.chmod(sys.argv[1], 0o666); s.listen(); print('up', flush=True); c, _ = s.accept();"
    "c.recv(4096); c.sendall(b'{\"report\": {}}\\n')"
)


def _as_nobody(*args: str, **options: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SYSTEM_PYTHON, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        user=65534, **options,  # type: ignore[call-overload]
    )  # fmt: skip


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not os.access(SYSTEM_PYTHON, os.X_OK),
    reason="running as another user needs root and a system Python here",
)


@contextmanager
def reachable() -> Iterator[Path]:
    """A folder another user can pass through (pytest's own are its owner's only)."""
    with tempfile.TemporaryDirectory(prefix="hameau-control-") as made:
        os.chmod(made, 0o711)  # noqa: S103 - the test opens it to another user on purpose
        yield Path(made)


@needs_root
def test_the_control_socket_answers_its_user_only() -> None:
    """Another user who could reach the socket (its modes opened by mistake) is refused by the
    kernel's word on who connected, before anything is read; an unknown request too."""
    with reachable() as base, trip(base) as (_home, _token, sat_dir), serve(sat_dir):
        path = sat_dir / control.SOCKET
        assert eventually(path.exists)
        assert path.stat().st_mode & 0o777 == 0o600
        sat_dir.chmod(0o711)
        path.chmod(0o666)
        out, err = _as_nobody("-c", ASK, str(path)).communicate(timeout=60)
        assert out and json.loads(out) == {"error": control.OTHER_USER}, err
        with socket.socket(socket.AF_UNIX) as mine:
            mine.connect(str(path))
            mine.sendall(b"GET / HTTP/1.0\n")
            assert b"only syncs" in mine.recv(4096)


@needs_root
def test_the_command_never_asks_another_users_socket() -> None:
    with reachable() as base:
        sat_dir = base / "sat"
        sat_dir.mkdir()
        sat_dir.chmod(0o777)
        impostor = _as_nobody("-c", IMPOSTOR, str(sat_dir / control.SOCKET))
        try:
            assert impostor.stdout is not None and impostor.stdout.readline() == "up\n"
            refused = hameau("travel", "sync", "--data-dir", str(sat_dir))
        finally:
            impostor.kill()
            impostor.communicate()
    assert refused.returncode == 1 and "another user" in refused.stderr

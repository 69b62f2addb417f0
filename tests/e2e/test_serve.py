"""`hameau serve` as a process: it starts, says how to begin, keeps secrets out of its log, stops."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import pytest

from hameau.accounts import devices
from hameau.node.db import transaction
from tests.e2e.served import serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e


def test_a_fresh_node_prints_where_to_set_it_up(tmp_path: Path) -> None:
    make_node(tmp_path / "n").close()
    with serve(tmp_path / "n") as node:
        output = node.output()
        assert f"{node.url}/setup" in output and "setup code" in output


def test_secrets_in_addresses_never_reach_the_log(tmp_path: Path) -> None:
    opened = make_node(tmp_path / "n")
    add_member(opened, "alex")
    with transaction(opened.sessions) as session:
        secret = devices.enrol(devices.add_device(session, "Kitchen", "terminal", True))
        code = devices.create_enrol_code(devices.add_device(session, "Laptop", "laptop", True))
    opened.close()
    with serve(tmp_path / "n") as node:
        for path in (f"/login?device={secret}", f"/devices/enrol?code={code}"):
            with urllib.request.urlopen(node.url + path) as answer:
                assert answer.status == 200
        log = node.output()
        assert "GET /login?device=[redacted]" in log
        assert secret not in log and code not in log


def test_it_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    make_node(tmp_path / "n").close()
    with serve(tmp_path / "n") as node:
        node.process.send_signal(signal.SIGTERM)
        # Like uvicorn, it finishes its requests, then ends by the signal it was sent.
        assert node.process.wait(timeout=15) in (0, -signal.SIGTERM)
        assert "Finished server process" in node.output()


def test_serve_without_a_node_says_what_to_do(tmp_path: Path) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "hameau", "serve", "--data-dir", str(tmp_path / "none")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "hameau init" in done.stderr and "Traceback" not in done.stderr


def test_serve_help_lists_its_options() -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "hameau", "serve", "--help"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "--data-dir" in done.stdout and "--port" in done.stdout


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    node = make_node(tmp_path / "node")
    node.close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for entry in ("hameau", "hameau.cli"):  # the quick path, and the full command line
            runner = ["-m", "hameau"] if entry == "hameau" else ["-c", FULL_COMMAND_LINE]
            command = [sys.executable, *runner, "serve", "--data-dir", str(node.layout.root),
                       "--port", str(port)]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
            assert done.returncode != 0, entry
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0]
            assert " on http://" not in done.stdout  # never claims to serve


# `hameau serve` through Typer's command, as when the quick path hands over.
FULL_COMMAND_LINE = (
    "import sys; from hameau.cli import main; sys.argv[0] = 'hameau'; sys.exit(main())"
)

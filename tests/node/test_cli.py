"""The `hameau` command, run as a user would run it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hameau.config import load_settings
from hameau.node.datadir import open_node
from tests.helpers import browser


def hameau(*args: str, data_dir: Path | None = None, stdin: str = "", env: dict | None = None):  # type: ignore[no-untyped-def]
    command = [sys.executable, "-m", "hameau", *args]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, env=environment, timeout=120
    )


def test_init_creates_the_node_once(tmp_path: Path) -> None:
    root = tmp_path / "node"
    first = hameau("init", "--name", "Chez nous", data_dir=root)
    assert first.returncode == 0, first.stderr
    key = root / "node.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (root / "hameau.db").is_file() and (root / "blobs").is_dir()
    before = key.read_bytes(), (root / "hameau.db").stat().st_mtime_ns

    second = hameau("init", "--name", "Autre nom", data_dir=root)
    assert second.returncode == 0
    assert "already exists" in second.stdout and "nothing was changed" in second.stdout
    assert (key.read_bytes(), (root / "hameau.db").stat().st_mtime_ns) == before
    node = open_node(load_settings(root))
    assert node.name == "Chez nous"
    node.close()


def test_the_data_dir_comes_from_the_environment(tmp_path: Path) -> None:
    root = tmp_path / "from-env"
    assert hameau("init", "--name", "Env", env={"HAMEAU_DATA": str(root)}).returncode == 0
    assert (root / "node.key").exists()


def test_commands_on_a_missing_node_say_what_to_do(tmp_path: Path) -> None:
    result = hameau("member", "list", data_dir=tmp_path / "nothing")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "hameau init" in lines[0]


def test_a_bad_setting_names_its_file_and_option(tmp_path: Path) -> None:
    root = tmp_path / "node"
    hameau("init", "--name", "X", data_dir=root)
    (root / "hameau.toml").write_text("[node]\nport = 'eighty'\n")
    result = hameau("member", "list", data_dir=root)
    assert result.returncode == 1
    assert "hameau.toml [node]: option 'port'" in result.stderr


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_members_tokens_and_devices_from_the_command_line(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    root = tmp_path / "node"
    if database == "postgresql":  # the listings then read through SQLAlchemy, not sqlite3
        root.mkdir()
        url = request.getfixturevalue("pg_url")
        (root / "hameau.toml").write_text(f'[node]\ndatabase_url = "{url}"\n')
    assert hameau("init", "--name", "Maison", data_dir=root).returncode == 0
    added = hameau(
        "member", "add", "alex", "--password-stdin", data_dir=root, stdin="a good password\n"
    )
    assert added.returncode == 0, added.stderr
    generated = hameau("member", "add", "sam", "--admin", data_dir=root)
    assert "Password:" in generated.stdout
    again = hameau(
        "member", "add", "alex", "--password-stdin", data_dir=root, stdin="a good password\n"
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = hameau(
        "member", "add", "../root", "--password-stdin", data_dir=root, stdin="a good password\n"
    )
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    listed = hameau("member", "list", data_dir=root).stdout
    assert "alex" in listed and "sam" in listed and "admin" in listed

    created = hameau("token", "create", "alex", "--label", "rclone", data_dir=root)
    secret = created.stdout.strip().splitlines()[-1]
    node = open_node(load_settings(root))
    client = browser(node)
    assert (
        client.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).json()["name"]
        == "alex"
    )
    assert "rclone" in hameau("token", "list", "alex", data_dir=root).stdout
    token_id = client.get("/api/tokens", headers={"Authorization": f"Bearer {secret}"}).json()[0][
        "id"
    ]
    assert hameau("token", "revoke", str(token_id), data_dir=root).returncode == 0
    assert client.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert hameau("token", "revoke", "999", data_dir=root).returncode == 1

    kitchen = hameau("device", "add", "Cuisine", "--kind", "terminal", "--shared",
                     "--acquired", "2019-04-01", "--lifetime-years", "8", data_dir=root)  # fmt: skip
    assert kitchen.returncode == 0, kitchen.stderr
    phone = hameau(
        "device", "add", "Tel", "--kind", "phone", "--personal", "--owner", "alex", data_dir=root
    )
    assert phone.returncode == 0, phone.stderr
    assert (
        hameau("device", "add", "X", "--kind", "toaster", "--shared", data_dir=root).returncode == 1
    )
    undecided = hameau("device", "add", "Y", "--kind", "tablet", data_dir=root)
    assert undecided.returncode == 1 and "--shared or --personal" in undecided.stderr
    future = hameau(
        "device",
        "add",
        "Z",
        "--kind",
        "tablet",
        "--shared",
        "--acquired",
        "2999-01-01",
        data_dir=root,
    )
    assert future.returncode == 1
    devices = hameau("device", "list", data_dir=root).stdout
    assert "Cuisine" in devices and "2019-04-01" in devices and "Tel" in devices
    link = hameau(
        "device", "enrol-link", "Cuisine", "--url", "http://maison.local:8080", data_dir=root
    )
    assert link.stdout.startswith("http://maison.local:8080/devices/enrol?code=")

    assert hameau("member", "disable", "alex", data_dir=root).returncode == 0
    assert "disabled" in hameau("member", "list", data_dir=root).stdout
    node.close()


def test_demo_creates_a_household_and_prints_its_logins(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    first = hameau("demo", data_dir=root)
    assert first.returncode == 0, first.stderr
    logins = (root / "demo-logins.txt").read_text().split()
    assert logins[0] == "camille" and "admin" in logins
    assert stat.S_IMODE((root / "demo-logins.txt").stat().st_mode) == 0o600
    assert "/devices/enrol?code=" in first.stdout
    second = hameau("demo", data_dir=root)
    assert second.returncode == 0 and "already" in second.stdout and logins[1] in second.stdout
    devices = hameau("device", "list", data_dir=root).stdout
    assert "Terminal de la cuisine" in devices and "Portable partagé" in devices
    members = hameau("member", "list", data_dir=root).stdout
    assert all(name in members for name in ("camille", "alex", "sam", "louise"))


def test_every_command_explains_itself() -> None:
    for command in (["--help"], ["init", "--help"], ["serve", "--help"], ["member", "add", "--help"],
                    ["token", "create", "--help"], ["device", "add", "--help"], ["demo", "--help"], ["check", "--help"]):  # fmt: skip
        result = hameau(*command)
        assert result.returncode == 0 and "Usage" in result.stdout, command
    unknown = hameau("frobnicate")
    assert unknown.returncode != 0

"""`hameau travel sync` goes to a served satellite before the command line loads only for the
arguments it understands; anything else, or no satellite served, runs the full command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hameau.config import resolve_data_dir
from hameau.travel import control


def test_other_arguments_and_no_served_satellite_go_to_the_full_command_line(
    tmp_path: Path,
) -> None:
    assert control.command_line(["--help"]) is None
    assert control.command_line(["--data-dir", str(tmp_path), "--verbose"]) is None
    assert control.command_line(["--data-dir", str(tmp_path)]) is None  # no socket there
    assert control.command_line([f"--data-dir={tmp_path}"]) is None
    (tmp_path / control.SOCKET).touch()  # left behind, nobody listening
    assert control.command_line(["--data-dir", str(tmp_path)]) is None


def test_help_and_a_node_that_is_no_satellite_are_said_by_the_full_command_line(
    tmp_path: Path,
) -> None:
    hameau = [sys.executable, "-m", "hameau", "travel", "sync"]
    shown = subprocess.run([*hameau, "--help"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "Two-way sync with home" in shown.stdout
    subprocess.run([sys.executable, "-m", "hameau", "init", "--name", "N", "--data-dir",
                    str(tmp_path / "node")], check=True, capture_output=True, timeout=120)  # fmt: skip
    refused = subprocess.run([*hameau, f"--data-dir={tmp_path / 'node'}"],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"Error: The node in {tmp_path / 'node'} is not a satellite; make one with"
        " `hameau travel pack`."
    ]


def test_the_data_dir_given_is_found_as_the_settings_find_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HAMEAU_DATA", str(tmp_path / "from-env"))
    for given in ("sat", "./a/../sat", "~/voyage", str(tmp_path / "abs"), None):
        assert control.data_dir(given) == resolve_data_dir(given)

"""Sync killed (SIGKILL) at random points, then run again: converges, loses nothing, corrupts
nothing. The full run (200 trials) is `python bench/sync_kill.py`; this runs a few."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.e2e
def test_sync_killed_at_random_points_always_recovers() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "sync_kill.py"), "--trials", "8", "--files", "120"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["trials"] == 8 and figures["failures"] == 0
    assert figures["kills_mid_sync"] >= 1  # at least one kill landed while a sync was at work

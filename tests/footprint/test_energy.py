"""The node's energy from RAPL counters: a powercap tree of real files in a temporary folder
(the reader takes its root), counted across a wrap-around, refused when the kernel denies
reading, and the report falling back to an estimate that says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hameau.footprint import energy, power
from hameau.footprint.figures import ESTIMATED, MEASURED, UNKNOWN
from hameau.node.datadir import Node
from hameau.node.db import transaction

RANGE = 262_143_328_850  # µJ: a common max_energy_range_uj (about 262 kJ)


def powercap(root: Path, zones: dict[str, tuple[str, int]], max_uw: int | None = None) -> Path:
    """A powercap tree: intel-rapl:N/{name,energy_uj,max_energy_range_uj} (and a sub-zone,
    which the reader must not add to its package)."""
    for folder, (name, value) in zones.items():
        zone = root / folder
        zone.mkdir(parents=True, exist_ok=True)
        (zone / "name").write_text(name + "\n")
        (zone / "energy_uj").write_text(f"{value}\n")
        (zone / "max_energy_range_uj").write_text(f"{RANGE}\n")
        if max_uw is not None:
            (zone / "constraint_0_max_power_uw").write_text(f"{max_uw}\n")
        core = root / folder / f"{folder}:0"
        core.mkdir(exist_ok=True)
        (core / "name").write_text("core\n")
        (core / "energy_uj").write_text("5\n")
        (core / "max_energy_range_uj").write_text(f"{RANGE}\n")
    return root


def set_energy(root: Path, folder: str, value: int) -> None:
    (root / folder / "energy_uj").write_text(f"{value}\n")


def test_the_packages_are_read_and_their_sub_zones_left_out(tmp_path: Path) -> None:
    root = powercap(
        tmp_path, {"intel-rapl:0": ("package-0", 10), "intel-rapl:1": ("package-1", 20)}
    )
    read = energy.read_rapl(root)
    assert read.problem == ""
    assert [(z.source, z.name, z.energy_uj) for z in read.zones] == [
        ("intel-rapl:0", "package-0", 10), ("intel-rapl:1", "package-1", 20),
    ]  # fmt: skip
    # The whole platform's zone, where the kernel has one, stands alone.
    powercap(tmp_path, {"intel-rapl:2": ("psys", 30)})
    assert [z.name for z in energy.read_rapl(root).zones] == ["psys"]


def test_no_powercap_tree_is_absent_not_zero(tmp_path: Path) -> None:
    assert energy.read_rapl(tmp_path / "none").problem == "absent"
    assert energy.read_rapl(tmp_path).problem == "absent"


def test_a_counter_that_wrapped_counts_once() -> None:
    zone = energy.Zone("intel-rapl:0", "package-0", 2_000_000, RANGE, 25.0)
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    # One joule before the wrap, then two after it, a minute later: 3 J in 60 s.
    before = energy.Baseline("boot-1", RANGE - 1_000_000, at)
    after = energy.advance(before, zone, "boot-1", at + timedelta(seconds=60))
    assert after.joules == pytest.approx(3.0)
    assert after.seconds == pytest.approx(60.0)
    assert after.raw == 2_000_000
    assert energy.counted(RANGE - 1_000_000, 2_000_000, RANGE) == 3_000_000


def test_a_period_that_may_hide_a_second_wrap_is_not_counted() -> None:
    # At 25 W the 262 kJ range lasts 10 486 s: read again after 3 hours, the count is ambiguous.
    zone = energy.Zone("intel-rapl:0", "package-0", 5_000_000, RANGE, 25.0)
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    before = energy.Baseline("boot-1", 1_000_000, at, joules=7.0, seconds=70.0)
    after = energy.advance(before, zone, "boot-1", at + timedelta(hours=3))
    assert (after.joules, after.seconds, after.raw) == (7.0, 70.0, 5_000_000)


def test_a_reboot_starts_the_counter_again_without_counting_the_gap() -> None:
    zone = energy.Zone("intel-rapl:0", "package-0", 4_000_000, RANGE, 25.0)
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    before = energy.Baseline("boot-1", 9_000_000, at, joules=7.0, seconds=70.0)
    after = energy.advance(before, zone, "boot-2", at + timedelta(seconds=60))
    assert (after.joules, after.seconds, after.boot_id) == (7.0, 70.0, "boot-2")


def test_two_readings_give_a_measured_power(node: Node, tmp_path: Path) -> None:
    root = powercap(tmp_path / "powercap", {"intel-rapl:0": ("package-0", RANGE - 600_000_000)})
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with transaction(node.sessions) as db:
        power.sample(db, root, now=at)
        assert not power.rapl_power(db, energy.read_rapl(root)).known  # one reading: no power yet
        # 600 J to the wrap, 600 J after it, in 2 minutes: 10 W.
        set_energy(root, "intel-rapl:0", 600_000_000)
        reading = power.sample(db, root, now=at + timedelta(minutes=2))
        measured = power.rapl_power(db, reading)
    assert (measured.value, measured.label, measured.unit) == (10.0, MEASURED, "W")
    assert "CPU package only" in measured.source


def test_a_counter_only_root_may_read_is_unknown_and_says_how_to_fix_it(tmp_path: Path) -> None:
    """As the kernel has it since 2020: energy_uj readable by root only (0400). The reader runs
    as an unprivileged user, in a process of its own."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("not run: needs root and setpriv to read the tree as another user")
    # pytest's own temporary folders are root's alone (0700): a folder all may traverse.
    shared = Path(tempfile.mkdtemp(prefix="powercap-"))
    shared.chmod(0o755)
    try:
        _read_as_nobody(shared)
    finally:
        shutil.rmtree(shared)


def _read_as_nobody(shared: Path) -> None:
    root = powercap(shared, {"intel-rapl:0": ("package-0", 123)})
    (root / "intel-rapl:0" / "energy_uj").chmod(0o400)
    code = f"from hameau.footprint import energy; from pathlib import Path; print(energy.read_rapl(Path({str(root)!r})).problem)"
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    if done.returncode != 0 and not done.stdout:
        # The reader never ran (the venv or the sources unreadable to that user): not a result.
        pytest.skip(f"not run: the unprivileged user cannot run hameau here ({done.stderr[-200:]})")
    assert done.stdout.strip() == "permission denied", done.stderr
    figure = power.rapl_power(None, energy.Rapl(problem="permission denied"))  # type: ignore[arg-type]
    assert figure.label == UNKNOWN
    assert "only root" in figure.source and "udev" in figure.source


def test_without_rapl_the_power_is_an_estimate_from_cpu_time_with_its_source(
    node: Node, tmp_path: Path
) -> None:
    from hameau.footprint.factors import load

    proc = tmp_path / "proc"
    (proc / "sys" / "kernel" / "random").mkdir(parents=True)
    (proc / "sys" / "kernel" / "random" / "boot_id").write_text("boot-1\n")
    # 2 CPUs; user 300, system 100, idle 500, iowait 100 ticks: 40 % busy.
    (proc / "stat").write_text("cpu  300 0 100 500 100 0 0 0 0 0\ncpu0 1 0 0 0\ncpu1 1 0 0 0\n")
    (proc / "uptime").write_text("5.00 8.00\n")
    with transaction(node.sessions) as db:
        found = power.node_power(db, load(), "laptop", tmp_path / "none", proc)
    # Boavizta's laptop: 50 to 100 W; 40 % of the way: 50 + 50 × 0.4 = 70 W.
    assert (found.chosen.value, found.chosen.low, found.chosen.high) == (70.0, 50.0, 100.0)
    assert found.chosen.label == ESTIMATED
    assert "boaviztapi 2.5.0" in found.chosen.source and "40% of 2 CPUs" in found.chosen.source
    assert found.rapl.label == UNKNOWN and "no RAPL counter" in found.rapl.source

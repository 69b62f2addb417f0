"""The node's own energy: read from RAPL counters when the kernel lets us, else estimated from
the machine's CPU time and a power model of its class.

RAPL (`/sys/class/powercap/intel-rapl:N/energy_uj`) counts the CPU package's energy in µJ and
wraps around at `max_energy_range_uj`; since 2020 kernels let only root read it. The readers
take the powercap root as a parameter (a test gives a tree of files in a temporary folder).
A counter read again after a wrap is counted once, by `advance`; a period too long to rule
out a second wrap (more than the range at the zone's highest power) is not counted at all:
the energy is then measured over the periods that were read often enough, and said so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
PROC = Path("/proc")
# The highest power a package zone could draw when it does not say (constraint_0_max_power_uw):
# a period longer than range / this might hide a second wrap.
ASSUMED_MAX_WATTS = 500.0


@dataclass(frozen=True)
class Zone:
    source: str  # the zone's folder name, e.g. "intel-rapl:0"
    name: str  # what the kernel calls it: "package-0", "psys"
    energy_uj: int
    range_uj: int
    max_watts: float


@dataclass(frozen=True)
class Rapl:
    """What the powercap tree gave: zones read, or why none could be."""

    zones: tuple[Zone, ...] = ()
    problem: str = ""  # "absent", "permission denied", "unreadable"


def _number(path: Path) -> int:
    return int(path.read_text().strip())


def read_rapl(root: Path = POWERCAP) -> Rapl:
    """The top-level RAPL zones (packages, or the whole platform's "psys" alone if there)."""
    folders = sorted(root.glob("intel-rapl:*")) if root.is_dir() else []
    folders = [folder for folder in folders if folder.name.count(":") == 1]
    if not folders:
        return Rapl(problem="absent")
    zones = []
    try:
        for folder in folders:
            name = (folder / "name").read_text().strip() if (folder / "name").exists() else ""
            limit = folder / "constraint_0_max_power_uw"
            watts = _number(limit) / 1e6 if limit.exists() else 0.0
            zones.append(Zone(folder.name, name, _number(folder / "energy_uj"),
                              _number(folder / "max_energy_range_uj"),
                              watts or ASSUMED_MAX_WATTS))  # fmt: skip
    except PermissionError:
        return Rapl(problem="permission denied")
    except (OSError, ValueError):
        return Rapl(problem="unreadable")
    platform = [zone for zone in zones if zone.name == "psys"]
    return Rapl(zones=tuple(platform or zones))


def boot_id(proc: Path = PROC) -> str:
    """This boot's identity: RAPL counters start again at each boot."""
    try:
        return (proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return "unknown"


def counted(before: int, after: int, range_uj: int) -> int:
    """µJ counted from `before` to `after`, across at most one wrap-around."""
    return after - before if after >= before else after + range_uj - before


@dataclass(frozen=True)
class Baseline:
    """A counter's last value and the energy counted so far over the periods seen whole."""

    boot_id: str
    raw: int
    read_at: datetime
    joules: float = 0.0
    seconds: float = 0.0


def advance(stored: Baseline | None, zone: Zone, boot: str, now: datetime) -> Baseline:
    """The baseline after reading `zone` at `now`: the period since the last reading counts
    when it is the same boot and short enough that the counter cannot have wrapped twice."""
    fresh = Baseline(boot, zone.energy_uj, now)
    if stored is None or stored.boot_id != boot or now <= stored.read_at:
        return replace(fresh, joules=stored.joules, seconds=stored.seconds) if stored else fresh
    seconds = (now - stored.read_at).total_seconds()
    if seconds * zone.max_watts * 1e6 >= zone.range_uj:
        return replace(fresh, joules=stored.joules, seconds=stored.seconds)
    joules = counted(stored.raw, zone.energy_uj, zone.range_uj) / 1e6
    return replace(fresh, joules=stored.joules + joules, seconds=stored.seconds + seconds)


@dataclass(frozen=True)
class CpuTime:
    """The machine's CPU time since boot, from /proc/stat, and its number of CPUs."""

    busy_seconds: float
    total_seconds: float
    uptime_seconds: float
    cpus: int

    @property
    def utilisation(self) -> float:
        return self.busy_seconds / self.total_seconds if self.total_seconds else 0.0


def read_cpu(proc: Path = PROC) -> CpuTime | None:
    """None where /proc/stat cannot be read (not Linux)."""
    try:
        first = (proc / "stat").read_text().splitlines()[0].split()
        uptime = float((proc / "uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    ticks = [int(value) for value in first[1:]]
    # user nice system idle iowait irq softirq steal: idle, iowait and steal (another
    # machine's work, on a virtual one) are not this machine's busy time.
    idle = ticks[3] + sum(ticks[4:5]) + sum(ticks[7:8])
    hertz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = sum(ticks[:8]) / hertz
    cpus = sum(1 for line in (proc / "stat").read_text().splitlines() if line[:3] == "cpu") - 1
    return CpuTime((sum(ticks[:8]) - idle) / hertz, total, uptime, max(cpus, 1))

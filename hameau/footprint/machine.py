"""The node's machine in Boavizta's power model: its CPU found by name in the vendored CPU
table (data/cpu_specs.csv, for its TDP) and its memory, and the power they draw at a load.

Boavizta's model (boaviztapi's server methodology, vendored as rows of boavizta.csv): the
CPU draws 12 %, 32 %, 75 % and 102 % of its TDP at 0, 10, 50 and 100 % load (linear between
those points here, where boaviztapi fits a curve through them); each DIMM draws a base power
plus a power per GB, 70 % of it at idle; the rest of the machine (board, fans, power supply
losses) adds a share of the two (33 %, 20 to 60 %). Disks are not counted (their number and
kind are unknown to the node), and say so.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

from hameau.footprint.factors import Factors
from hameau.footprint.figures import Figure

SPECS = Path(__file__).parent / "data" / "cpu_specs.csv"
LOADS = (0, 10, 50, 100)  # the loads Boavizta gives a TDP ratio for, in %
# Words of /proc/cpuinfo's model names that Boavizta's names do not carry.
NOISE = re.compile(r"\((?:r|tm)\)|@\s*[\d.]+\s*ghz|\bcpu\b|\bprocessor\b|\d+-core|with radeon.*$")


@dataclass(frozen=True)
class Machine:
    """What /proc says of the machine: its CPU's model name, memory and CPU packages; or what
    an admin named when the kernel does not say it (a virtual machine)."""

    cpu: str | None
    memory_gb: float | None
    packages: int = 1
    cpu_named: bool = False  # the CPU named by an admin, a name of data/cpu_specs.csv
    memory_named: bool = False


@dataclass(frozen=True)
class Cpu:
    name: str
    tdp: float
    version: str


def read_machine(proc: Path) -> Machine:
    try:
        info = (proc / "cpuinfo").read_text(errors="replace")
    except OSError:
        info = ""
    names = [line.split(":", 1)[1].strip() for line in info.splitlines()
             if line.startswith("model name") and ":" in line]  # fmt: skip
    packages = {line.split(":", 1)[1].strip() for line in info.splitlines()
                if line.startswith("physical id") and ":" in line}  # fmt: skip
    memory = None
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) / 1024 / 1024
    except (OSError, IndexError, ValueError):
        memory = None
    return Machine(names[0] if names else None, memory, max(len(packages), 1))


def _words(name: str) -> tuple[str, ...]:
    return tuple(NOISE.sub(" ", name.lower()).split())


@cache
def specs(path: Path = SPECS) -> tuple[Cpu, ...]:
    with path.open(newline="", encoding="utf-8") as source:
        return tuple(Cpu(row["name"], float(row["tdp"]), row["version"])
                     for row in csv.DictReader(source) if row["tdp"])  # fmt: skip


def find_cpu(model: str, table: tuple[Cpu, ...]) -> Cpu | None:
    """The CPU whose every word is in the model name and that names a model number (a word
    with a digit), the one with most words; None when none or two such fit equally."""
    words = set(_words(model))
    fits = [(len(_words(cpu.name)), cpu) for cpu in table
            if set(_words(cpu.name)) <= words
            and any(ch.isdigit() for word in _words(cpu.name) for ch in word)]  # fmt: skip
    if not fits:
        return None
    most = max(length for length, _ in fits)
    best = [cpu for length, cpu in fits if length == most]
    return best[0] if len({cpu.tdp for cpu in best}) == 1 else None


def named(name: str, table: tuple[Cpu, ...]) -> Cpu | None:
    """The CPU of the table with this very name (case and spaces aside), or None."""
    wanted = " ".join(name.lower().split())
    return next((cpu for cpu in table if cpu.name.lower() == wanted), None)


def near(name: str, table: tuple[Cpu, ...], most: int = 3) -> list[str]:
    """Names of the table close to a name not found in it: those holding every word of it
    (with a model number first), else the closest spellings."""
    words = set(_words(name))
    holding = [cpu.name for cpu in table if words and words <= set(_words(cpu.name))]
    if holding:
        return holding[:most]
    return difflib.get_close_matches(name, [cpu.name for cpu in table], n=most, cutoff=0.6)


def _value(factors: Factors, table: str, key: str, metric: str) -> float:
    found = factors.figure(table, key, metric)
    if not found.known:
        raise LookupError(found.source)
    return float(found.value)  # type: ignore[arg-type]


def cpu_ratio(factors: Factors, load: float) -> float:
    """The CPU's power at `load` (0 to 1) as a share of its TDP, linear between Boavizta's
    points."""
    ratios = [_value(factors, "power", "cpu", f"tdp_ratio_{at}") for at in LOADS]
    percent = min(max(load, 0.0), 1.0) * 100
    points = list(zip(LOADS, ratios, strict=True))
    for (a, ra), (b, rb) in pairwise(points):
        if percent <= b:
            return ra + (rb - ra) * (percent - a) / (b - a)
    return ratios[-1]


def ram_watts(factors: Factors, memory_gb: float, load: float) -> float:
    typical = _value(factors, "power", "ram", "typical_dimm_capacity")
    dimms = max(1, math.ceil(memory_gb / typical))
    full = dimms * (_value(factors, "power", "ram", "dimm_base_power")
                    + _value(factors, "power", "ram", "dimm_power_per_gb") * memory_gb / dimms)  # fmt: skip
    idle = _value(factors, "power", "ram", "idle_power_ratio")
    return full * (idle + (1 - idle) * load)


def power(factors: Factors, cpu: Cpu, machine: Machine, load: float, how: str) -> Figure:
    """The machine's power at `load`: (CPU + RAM) × (1 + the rest's share), its range from
    the rest's range."""
    inner = cpu.tdp * machine.packages * cpu_ratio(factors, load)
    memory = machine.memory_gb or 0.0
    inner += ram_watts(factors, memory, load) if memory else 0.0
    rest = factors.figure("power", "machine", "other_consumption_ratio")
    value, low, high = (inner * (1 + r) for r in (rest.value, rest.low, rest.high))  # type: ignore[operator]
    packages = f"{machine.packages} × " if machine.packages > 1 else ""
    named = "CPU named by the admin: " if machine.cpu_named else "CPU "
    ram = ("named by the admin" if machine.memory_named
           else "/proc/meminfo" if memory else "unknown, not counted")  # fmt: skip
    source = (
        f"Boavizta ({cpu.version}) power model: {named}{cpu.name} (TDP {cpu.tdp:g} W, {packages}"
        f"data/cpu_specs.csv) at {how}, {memory:.1f} GB of RAM ({ram}), the rest of the machine"
        f" {rest.value:.0%} ({rest.low:.0%}–{rest.high:.0%}), disks not counted"
    )
    return Figure.estimated(round(value, 2), "W", source, round(low, 2), round(high, 2))

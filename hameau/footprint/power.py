"""The node's average power, the best way this machine allows: a wall meter's reading entered
by hand (measured, the whole machine), else RAPL (measured, the CPU package only), else an
estimate from the CPU's use: Boavizta's power model of the machine when its CPU is in
Boavizta's CPU table (machine.py), else Boavizta's power range for the machine's class."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.footprint import energy, machine
from hameau.footprint.factors import Factors
from hameau.footprint.figures import Figure
from hameau.footprint.models import EnergyCounter, MeterReading
from hameau.node.db import utcnow

RAPL_HINT = (
    "the kernel lets only root read RAPL's counters; to measure, let the node's user read"
    " /sys/class/powercap/intel-rapl:*/energy_uj (a udev rule or a chmod at boot)"
)


NAME_IT = "an admin may name it: footprint page or `hameau impact node --cpu`"


@dataclass
class Power:
    """Every way of knowing the node's power, and the one the report uses."""

    chosen: Figure
    meter: Figure
    rapl: Figure
    estimate: Figure
    utilisation: float | None
    cpus: int = 1

    @property
    def per_cpu(self) -> Figure:
        """The power of one of the node's CPUs kept busy: the node's power shared over them."""
        # An attribution, not a measure (a busy CPU draws more than an idle one): estimated.
        shared = Figure.estimated(
            1 / self.cpus, "1", f"the node's power shared over its {self.cpus} CPUs"
        )
        return self.chosen.times(shared, "W") if self.chosen.known else self.chosen


def sample(
    db: Session, root: Path, proc: Path = energy.PROC, now: datetime | None = None
) -> energy.Rapl:
    """Read the RAPL zones and advance their stored baselines (at a report, or on a timer)."""
    reading = energy.read_rapl(root)
    boot, now = energy.boot_id(proc), now or utcnow()
    for zone in reading.zones:
        row = db.get(EnergyCounter, zone.source)
        stored = (
            energy.Baseline(row.boot_id, row.raw, row.read_at, row.joules, row.seconds)
            if row else None
        )  # fmt: skip
        after = energy.advance(stored, zone, boot, now)
        if row is None:
            row = EnergyCounter(source=zone.source, first_at=now)
            db.add(row)
        row.boot_id, row.raw, row.read_at = after.boot_id, after.raw, after.read_at
        row.joules, row.seconds = after.joules, after.seconds
    db.flush()
    return reading


def rapl_power(db: Session, reading: energy.Rapl) -> Figure:
    if reading.problem == "absent":
        return Figure.unknown("W", "no RAPL counter on this machine (/sys/class/powercap)")
    if reading.problem:
        return Figure.unknown("W", f"RAPL {reading.problem}: {RAPL_HINT}")
    rows = [db.get(EnergyCounter, zone.source) for zone in reading.zones]
    seconds = min((row.seconds for row in rows if row), default=0.0)
    if seconds <= 0:
        return Figure.unknown("W", "RAPL read once so far: a second reading gives the power")
    watts = sum(row.joules / row.seconds for row in rows if row and row.seconds)
    names = ", ".join(zone.name or zone.source for zone in reading.zones)
    return Figure.measured(round(watts, 2), "W",
                           f"RAPL ({names}), CPU package only, over {seconds / 3600:.1f} h")  # fmt: skip


def meter_power(db: Session) -> Figure:
    last = db.scalar(select(MeterReading).order_by(MeterReading.taken_at.desc()).limit(1))
    if last is None:
        return Figure.unknown("W", "no wall meter reading entered")
    how = f"{last.kwh:g} kWh over {last.hours:g} h" if last.kwh is not None else "spot reading"
    when = last.taken_at.strftime("%Y-%m-%d")
    return Figure.measured(round(last.watts, 2), "W",
                           f"wall meter, {how}, entered by {last.entered_by} on {when}")  # fmt: skip


def estimate(factors: Factors, kind: str, cpu: energy.CpuTime | None,
             found: machine.Machine | None = None) -> Figure:  # fmt: skip
    """Boavizta's model of the machine at the CPU's use since boot when its CPU is known;
    else Boavizta's power range for the class, placed in it by that use."""
    model = None
    if found and found.cpu:
        table = machine.specs()
        model = (machine.named(found.cpu, table) if found.cpu_named
                 else machine.find_cpu(found.cpu, table))  # fmt: skip
    if model is not None and found is not None:
        load = cpu.utilisation if cpu else 0.5
        how = (f"{load:.0%} of {cpu.cpus} CPUs since boot (/proc/stat)" if cpu
               else "50 % load (CPU use unknown)")  # fmt: skip
        return machine.power(factors, model, found, load, how)
    watts = factors.figure("use", kind, "avg_power")
    if not watts.known:
        return Figure.unknown("W", watts.source)
    why = (f"CPU {found.cpu!r}{' named by the admin' if found.cpu_named else ''} not in"
           " Boavizta's CPU table" if found and found.cpu else "CPU model unknown")  # fmt: skip
    why += "" if found and found.cpu_named else f" ({NAME_IT})"
    if cpu is None:
        return Figure(watts.value, watts.low, watts.high, "W", watts.label,
                      f"{watts.source}; {why}; CPU use unknown: Boavizta's average")  # fmt: skip
    low, high = watts.low, watts.high
    value = low + (high - low) * cpu.utilisation  # type: ignore[operator]
    source = (f"{watts.source}; {why}: linear from its low to its high bound by CPU use since"
              f" boot ({cpu.utilisation:.0%} of {cpu.cpus} CPUs, /proc/stat)")  # fmt: skip
    return Figure.estimated(round(value, 2), "W", source, low, high)


def described(
    proc: Path, cpu: str | None = None, memory_gb: float | None = None
) -> machine.Machine:
    """The machine as /proc says, with the CPU and memory an admin named in its place (one CPU
    package then: a virtual machine's /proc counts its virtual sockets, not the host's)."""
    found = machine.read_machine(proc)
    if cpu:
        found = replace(found, cpu=cpu, packages=1, cpu_named=True)
    if memory_gb:
        found = replace(found, memory_gb=memory_gb, memory_named=True)
    return found


def node_power(
    db: Session, factors: Factors, kind: str, root: Path, proc: Path = energy.PROC, *,
    cpu_name: str | None = None, memory_gb: float | None = None,
) -> Power:  # fmt: skip
    reading = sample(db, root, proc)
    cpu = energy.read_cpu(proc)
    meter, rapl = meter_power(db), rapl_power(db, reading)
    guess = estimate(factors, kind, cpu, described(proc, cpu_name, memory_gb))
    chosen = meter if meter.known else rapl if rapl.known else guess
    return Power(chosen, meter, rapl, guess, cpu.utilisation if cpu else None,
                 cpu.cpus if cpu else os.cpu_count() or 1)  # fmt: skip


def add_reading(db: Session, by: str, *, watts: float | None = None, kwh: float | None = None,
                hours: float | None = None) -> MeterReading:  # fmt: skip
    from hameau.errors import BadRequest

    if kwh is not None and hours is not None and kwh >= 0 and 0 < hours <= 24 * 3660:
        average = kwh * 1000 / hours
    elif watts is not None and kwh is None and hours is None and 0 <= watts <= 5000:
        average = watts
    else:
        raise BadRequest(
            "Give either the watts the meter shows, or its kWh and the hours it counted them over."
        )
    reading = MeterReading(entered_by=by[:80], watts=average, kwh=kwh, hours=hours)
    db.add(reading)
    db.flush()
    return reading

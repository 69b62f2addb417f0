"""The footprint report of a household, or of one member: everything read (devices, sessions,
counters, logs) and handed to the model, at the moment it is asked for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from hameau.accounts import members as accounts_members
from hameau.footprint import factors as reference
from hameau.footprint.factors import CRITERIA, UNITS, Factors
from hameau.footprint.figures import Figure, total
from hameau.footprint.inventory import WINDOW, Fleet, Use, fleet, node_profile
from hameau.footprint.model import (
    CLOUD_INSTANCE,
    Claim,
    Line,
    Scenario,
    claims,
    electricity,
    lent_compute,
    scenarios,
)  # fmt: skip
from hameau.footprint.power import Power, node_power
from hameau.node.datadir import Node
from hameau.node.db import utcnow

BORROWED_MACHINE = "this node's power per CPU standing in for the providers' unknown machines"
BORROWED_UNKNOWN = (
    "the lending home keeps the CPU time of the questions it answers; this node logs none"
)


@dataclass
class Report:
    made_at: datetime
    members: int
    country: str
    data_version: str
    power: Power
    real: Scenario
    own: Scenario
    claims: list[Claim]
    apps: list[tuple[str, Figure]]  # energy over the window, per app
    compute: list[tuple[str, Figure]]  # compute lent over the window, global warming
    use: dict[str, Use]  # by device name
    member: str | None = None  # a member's own report: their share only
    member_id: int | None = None
    share: dict[str, Figure] | None = None  # criterion -> their yearly share
    own_share: dict[str, Figure] | None = None  # their own devices, without the cloud share


def _energy(seconds: float, watts: Figure, what: str) -> Figure:
    """kWh of `seconds` of one CPU kept busy, at the node's power per CPU."""
    used = Figure.measured(seconds, "s", f"{what}: {seconds:.3g} CPU seconds")
    return used.times(watts, "Ws").scaled(1 / 3.6e6, "kWh")


def _apps(db: Session, member_id: int | None, since: datetime,
          watts: Figure) -> list[tuple[str, Figure]]:  # fmt: skip
    from hameau.ai import history, lending
    from hameau.ai.engines import WATTS_PER_BUSY_CORE

    by_member = history.energy_by_member(db, since)
    mine = [v for m, v in by_member.items() if member_id is None or m == member_id]
    # Each query's log keeps its CPU time as the AI's own estimate of its energy (Wh at
    # WATTS_PER_BUSY_CORE): turned back into CPU seconds, then counted as every other app.
    seconds = sum(wh for _, wh in mine) * 3600 / WATTS_PER_BUSY_CORE
    found = [("ai", _energy(seconds, watts, f"{sum(c for c, _ in mine)} AI queries' CPU time,"
                            " as their log keeps it"))]  # fmt: skip
    if member_id is None:
        day = since.strftime("%Y-%m-%d")
        lent_ai = sum(u.cpu_seconds for u in lending.usage(db) if u.day >= day)
        found.append(("ai-lent", _energy(lent_ai, watts, "CPU time answering paired homes")))
    count, synced = _sync(db, member_id, since)
    found.append(("sync", _energy(synced, watts, f"CPU time serving {count} sync requests of"
                                  " satellites (the node's thread time, per member and day)")))  # fmt: skip
    lent, borrowed = _jobs_seconds(db, member_id, since)
    if member_id is None:
        found.append(("compute-lent", _energy(lent, watts, "CPU time of the jobs run for"
                                              " paired homes (each run's sandbox process)")))  # fmt: skip
    found.append(("compute-borrowed", _energy(borrowed, watts, "CPU time the providers reported"
                  " for this home's jobs, spent at their homes (this node's power per CPU"
                  " standing in for their machines)")))  # fmt: skip
    return found


def _jobs_seconds(db: Session, member_id: int | None, since: datetime) -> tuple[float, float]:
    """CPU seconds of compute jobs since `since`: lent (run here for paired homes, the sandbox
    process's own time) and borrowed (this home's jobs, as their providers report it)."""
    from sqlalchemy import func, select

    from hameau.compute.models import ComputeJob, ComputeProvided, ComputeRun

    lent = db.scalar(select(func.coalesce(func.sum(ComputeProvided.cpu_seconds), 0.0))
                     .where(ComputeProvided.created_at >= since))  # fmt: skip
    borrowed = (select(func.coalesce(func.sum(ComputeRun.cpu_seconds), 0.0))
                .join(ComputeJob, ComputeJob.id == ComputeRun.job_id)
                .where(ComputeRun.started_at >= since))  # fmt: skip
    if member_id is not None:
        borrowed = borrowed.where(ComputeJob.member_id == member_id)
    return float(lent or 0.0), float(db.scalar(borrowed) or 0.0)


def _sync(db: Session, member_id: int | None, since: datetime) -> tuple[int, float]:
    """Sync requests of satellites served and their CPU seconds, counted per member and day."""
    from hameau.footprint import meter

    by_member = meter.by_member(db, "sync", since)
    count = sum(n for m, (n, _) in by_member.items() if member_id in (None, m))
    return count, sum(s for m, (_, s) in by_member.items() if member_id in (None, m))


def _lent(db: Session, since: datetime) -> Figure:
    """CPU hours this node's AI spent answering paired homes since `since` (logged per day)."""
    from hameau.ai import lending

    day = since.strftime("%Y-%m-%d")
    seconds = sum(u.cpu_seconds for u in lending.usage(db) if u.day >= day)
    return Figure.measured(round(seconds / 3600, 6), "h", "CPU time logged per paired home and day")


def _compute(db: Session, factors: Factors, real: Scenario, power: Power, country: str,
             since: datetime) -> list[tuple[str, Figure]]:  # fmt: skip
    node = next(line for line in real.lines if line.device.node)
    grid = electricity(factors, country)
    here, cloud = lent_compute(factors, _lent(db, since), node, power.cpus, grid)
    lent, borrowed = _jobs_seconds(db, None, since)
    jobs_here, jobs_cloud = lent_compute(factors, Figure.measured(
        round(lent / 3600, 6), "h", "CPU time of each job run here for paired homes"),
        node, power.cpus, grid)  # fmt: skip
    away, away_cloud = lent_compute(factors, Figure.estimated(
        round(borrowed / 3600, 6), "h",
        f"CPU time the providers reported for this home's jobs; {BORROWED_MACHINE}"),
        node, power.cpus, grid)  # fmt: skip
    return [
        ("AI lent, on this node", here),
        (f"AI lent, on a cloud instance ({CLOUD_INSTANCE})", cloud),
        ("AI borrowed", Figure.unknown("kgCO2e", BORROWED_UNKNOWN)),
        ("compute jobs lent, on this node", jobs_here),
        (f"compute jobs lent, on a cloud instance ({CLOUD_INSTANCE})", jobs_cloud),
        ("compute jobs borrowed, at the providers' homes", away),
        (f"compute jobs borrowed, on a cloud instance ({CLOUD_INSTANCE})", away_cloud),
    ]


def _member_share(
    real: Scenario, own: Scenario, found: Fleet, member_id: int
) -> tuple[dict[str, Figure], dict[str, Figure]]:
    """A member's yearly share: their personal devices, shared ones by their measured hours
    on each (an equal part where none were measured), the node in equal parts."""
    parts = max(found.members, 1)
    mine: dict[str, list[Figure]] = {c: [] for c in CRITERIA}
    for line in real.lines:
        device = line.device
        if device.node:
            fraction = 1 / parts
        elif not device.shared:
            fraction = 1.0 if device.owner == member_id else 0.0
        else:
            use = found.use.get(device.name, Use())
            fraction = (use.hours_by_member.get(member_id, 0.0) / use.hours
                        if use.hours else 1 / parts)  # fmt: skip
        for c in CRITERIA:
            if fraction:
                mine[c].append(line.total(c).scaled(fraction))
    share = {c: total(mine[c], f"{UNITS[c]}/year") for c in CRITERIA}
    theirs = {c: own.total(c, with_extra=False).scaled(1 / parts) for c in CRITERIA}  # as drawn
    return share, theirs


def build(node: Node, db: Session, member_id: int | None = None, *,
          proc: Path | None = None) -> Report:  # fmt: skip
    factors: Factors = reference.load()
    profile = node_profile(db)
    kind = profile.kind or "desktop"
    power = node_power(db, factors, kind, Path(node.settings.footprint_powercap),
                       **({"proc": proc} if proc else {}), cpu_name=profile.cpu,
                       memory_gb=profile.memory_gb)  # fmt: skip
    people = [m for m in accounts_members.list_members(db, active_only=True) if m.home_here]
    found = fleet(db, factors, power.chosen, len(people))
    real, own = scenarios(factors, found.devices, len(people), profile.country)
    report = Report(
        made_at=utcnow(), members=len(people), country=profile.country,
        data_version=factors.version, power=power, real=real, own=own,
        claims=claims(factors, real, own, found.devices),
        apps=_apps(db, member_id, utcnow() - WINDOW, power.per_cpu), use=found.use,
        compute=_compute(db, factors, real, power, profile.country, utcnow() - WINDOW),
    )  # fmt: skip
    if member_id is not None:
        report.member = next((m.name for m in people if m.id == member_id), None)
        report.member_id = member_id
        report.share, report.own_share = _member_share(real, own, found, member_id)
    return report


def lines(report: Report) -> list[Line]:
    """The devices a report shows: all for the household's; for a member's, the node, the
    shared devices and their own (not the other members' personal devices)."""
    if report.member_id is None:
        return report.real.lines
    return [
        line for line in report.real.lines
        if line.device.node or line.device.shared or line.device.owner == report.member_id
    ]  # fmt: skip

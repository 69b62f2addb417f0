"""The household's fleet as the model sees it: the registered devices and the node itself,
their real lifetimes, and how much each is shared, measured from the login sessions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from hameau.accounts import devices, sessions
from hameau.footprint.factors import NODE_KINDS, Factors
from hameau.footprint.figures import Figure
from hameau.footprint.model import Device, default_lifetime
from hameau.footprint.models import FootprintNode
from hameau.node.db import utcnow

WINDOW = timedelta(days=30)  # login sessions are kept 30 days after they end
NODE_DEFAULT_KIND = "desktop"


@dataclass
class Use:
    """A device's use over the window, from its login sessions."""

    days: int = 0  # days with at least one session
    member_days: int = 0  # (day, member) pairs
    hours: float = 0.0
    hours_by_member: dict[int, float] = field(default_factory=dict)

    @property
    def members_per_day(self) -> float:
        return self.member_days / self.days if self.days else 0.0


def use_by_device(rows: list[tuple[int, int, datetime, datetime]]) -> dict[int, Use]:
    """Per device: the days it was used, distinct members per day and hours of use."""
    found: dict[int, Use] = defaultdict(Use)
    pairs: dict[int, set[tuple[date, int]]] = defaultdict(set)
    for device, member, start, seen in rows:
        use = found[device]
        hours = max((seen - start).total_seconds(), 0.0) / 3600
        use.hours += hours
        use.hours_by_member[member] = use.hours_by_member.get(member, 0.0) + hours
        day = start.date()
        while day <= seen.date():
            pairs[device].add((day, member))
            day += timedelta(days=1)
    for device, days in pairs.items():
        found[device].days = len({day for day, _ in days})
        found[device].member_days = len(days)
    return dict(found)


def lifetime(factors: Factors, kind: str, expected: int | None, acquired: date | None,
             today: date) -> Figure:  # fmt: skip
    """The real lifetime: the registry's expected one, or the age if the device already
    lived longer; Boavizta's default where the registry says nothing."""
    age = (today - acquired).days / 365.25 if acquired else 0.0
    if expected is not None and expected >= age:
        return Figure.estimated(float(expected), "years", "expected lifetime, device registry")
    if acquired is not None and (
        expected is not None or age > (default_lifetime(factors, kind).value or 0)
    ):
        return Figure.measured(
            round(age, 2), "years", "age so far (acquired on the registry's date)"
        )
    return default_lifetime(factors, kind)


def node_profile(db: Session) -> FootprintNode:
    found = db.get(FootprintNode, 1)
    if found is None:
        found = FootprintNode(id=1, country="FRA")
        db.add(found)
        db.flush()
    return found


@dataclass
class Fleet:
    devices: list[Device]
    use: dict[str, Use]  # by device name
    members: int


def fleet(db: Session, factors: Factors, node_power: Figure, members: int) -> Fleet:
    today = utcnow().date()
    rows = sessions.on_devices(db, utcnow() - WINDOW)
    use = use_by_device(rows)
    found, by_name = [], {}
    for registered in devices.list_devices(db):
        measured = use.get(registered.id, Use())
        users = Figure.measured(1.0, "members/day", "personal device")
        if registered.shared:
            users = (
                Figure.measured(round(measured.members_per_day, 2), "members/day",
                                "login sessions of the last 30 days")
                if measured.days else Figure.estimated(1.0, "members/day", "no session yet: one")
            )  # fmt: skip
        found.append(Device(
            registered.name, registered.kind,
            lifetime(factors, registered.kind, registered.lifetime_years, registered.acquired_on, today),
            users, shared=registered.shared, owner=registered.owner_id,
        ))  # fmt: skip
        by_name[registered.name] = measured
    profile = node_profile(db)
    kind = profile.kind or NODE_DEFAULT_KIND
    found.append(Device(
        "node", kind, lifetime(factors, kind, profile.lifetime_years, profile.acquired_on, today),
        power=node_power, shared=True, node=True,
    ))  # fmt: skip
    return Fleet(found, by_name, members)


def _cpu(name: str) -> str | None:
    """The table's own spelling of a CPU an admin names ("" forgets it), or 400 with names
    close to it."""
    from hameau.errors import BadRequest
    from hameau.footprint import machine

    if not name.strip():
        return None
    table = machine.specs()
    found = machine.named(name, table)
    if found is not None:
        return found.name
    near = machine.near(name, table)
    if near:
        raise BadRequest(
            "“%(cpu)s” is not in Boavizta’s CPU table: choose one of its names, such as"
            " %(near)s.", cpu=name.strip()[:100], near=", ".join(near),
        )  # fmt: skip
    raise BadRequest(
        "“%(cpu)s” is not in Boavizta’s CPU table: choose one of its names (the form offers"
        " them as you type a few letters; on the command line, --cpus WORDS lists them).", cpu=name.strip()[:100],
    )  # fmt: skip


def set_node(db: Session, *, kind: str | None = None, acquired_on: date | None = None,
             lifetime_years: int | None = None, country: str | None = None,
             cpu: str | None = None, memory_gb: float | None = None) -> FootprintNode:  # fmt: skip
    """Describe the node's machine; what is not given (None) stays as it was. `cpu` names its
    CPU from Boavizta's table where the kernel does not ("" lets the kernel say again), and
    `memory_gb` its memory (0 lets the kernel say again)."""
    from hameau.errors import BadRequest
    from hameau.footprint.factors import load

    if kind is not None and kind not in NODE_KINDS:
        raise BadRequest(
            "The home server's kind must be one of: %(kinds)s.", kinds=", ".join(NODE_KINDS)
        )
    if lifetime_years is not None and not 1 <= lifetime_years <= 50:
        raise BadRequest("The expected lifetime is a number of years between 1 and 50.")
    if acquired_on is not None and acquired_on > utcnow().date():
        raise BadRequest("The acquisition date cannot be in the future.")
    countries = load().countries()
    if country is not None and country.upper() not in countries:
        raise BadRequest(
            "The country must be one of: %(countries)s.", countries=", ".join(countries)
        )
    if memory_gb is not None and not 0 <= memory_gb <= 4096:
        raise BadRequest("The memory is a number of GB between 0 and 4096 (0: as the system says).")
    profile = node_profile(db)
    profile.cpu = _cpu(cpu) if cpu is not None else profile.cpu
    profile.memory_gb = (memory_gb or None) if memory_gb is not None else profile.memory_gb
    profile.kind = kind or profile.kind
    profile.acquired_on = acquired_on or profile.acquired_on
    profile.lifetime_years = lifetime_years or profile.lifetime_years
    profile.country = country.upper() if country else profile.country
    profile.updated_at = utcnow()
    return profile

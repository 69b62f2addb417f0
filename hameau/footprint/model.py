"""The footprint model, as pure functions (no I/O): yearly impacts of devices, two scenarios,
and the vision's claims checked against them.

Rules:
- a device's manufacture (embodied impact) is spread over its real lifetime: its yearly share
  is the embodied impact divided by the lifetime in years;
- its use is energy × the electricity factor of the node's country; a terminal's energy is
  Boavizta's average power × its use ratio × the hours of a year, times the number of members
  who use it on a day (measured from sessions; 1 for a personal device), capped at all day;
  the node's is its average power (measured or estimated) all year round;
- "everyone owns their own": per member a smartphone, a laptop and a tablet at Boavizta's
  default lifetimes, plus a cloud account's share of a data centre (unknown: no open data
  set gives it), against the household's real fleet and its node;
- every figure keeps its range and its label (see figures.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hameau.errors import N_
from hameau.footprint.factors import CRITERIA, TERMINAL_KINDS, UNITS, Factors
from hameau.footprint.figures import ESTIMATED, MEASURED, UNKNOWN, Figure, reduction, total

HOURS_PER_YEAR = 8760.0
OWN_KINDS = ("phone", "laptop", "tablet")
CLOUD_UNKNOWN = N_(
    "no open data set gives a cloud account's share of a data centre (Boavizta's cloud data"
    " describes whole instances, not an account's mail, files and photos)"
)


@dataclass(frozen=True)
class Device:
    """A device as the model sees it."""

    name: str
    kind: str
    lifetime: Figure  # years
    users_per_day: Figure = field(default_factory=lambda: Figure.measured(1.0, "", ""))
    power: Figure | None = None  # W all year round (the node); None: Boavizta's use profile
    shared: bool = False
    owner: int | None = None
    node: bool = False


@dataclass(frozen=True)
class Line:
    """A device's yearly impacts: manufacture (its share per year) and use."""

    device: Device
    energy: Figure  # kWh per year
    embodied: dict[str, Figure]
    use: dict[str, Figure]

    def total(self, criterion: str) -> Figure:
        return self.embodied[criterion] + self.use[criterion]


def electricity(factors: Factors, country: str) -> dict[str, Figure]:
    return {c: factors.figure("electricity", country, c) for c in CRITERIA}


def yearly_energy(factors: Factors, device: Device) -> Figure:
    """kWh per year of the device's use."""
    if device.power is not None:
        return device.power.scaled(HOURS_PER_YEAR / 1000, "kWh/year")
    watts = factors.figure("use", device.kind, "avg_power")
    ratio = factors.figure("use", device.kind, "use_time_ratio")
    if not ratio.known:
        return Figure.unknown("kWh/year", ratio.source)
    # More members on one device use it longer, up to all day.
    users = device.users_per_day
    cap = 1 / ratio.value  # type: ignore[operator]
    if users.known and users.high > cap:  # type: ignore[operator]
        users = Figure(min(users.value, cap), min(users.low, cap), cap,  # type: ignore[arg-type, type-var]
                       users.unit, users.label, users.source)  # fmt: skip
    hours = ratio.times(users, "h").scaled(HOURS_PER_YEAR)
    return watts.times(hours, "Wh/year").scaled(1 / 1000, "kWh/year")


def line(factors: Factors, device: Device, grid: dict[str, Figure]) -> Line:
    energy = yearly_energy(factors, device)
    embodied = {
        c: factors.figure("embodied", device.kind, c).over(device.lifetime, f"{UNITS[c]}/year")
        for c in CRITERIA
    }
    use = {c: energy.times(grid[c], f"{UNITS[c]}/year") for c in CRITERIA}
    return Line(device, energy, embodied, use)


def default_lifetime(factors: Factors, kind: str) -> Figure:
    return factors.figure("lifetime", kind, "years")


def own_devices(factors: Factors, members: int) -> list[Device]:
    """Everyone owns their own: per member a smartphone, a laptop and a tablet."""
    return [
        Device(f"{kind} {n + 1}", kind, default_lifetime(factors, kind), owner=n)
        for n in range(members)
        for kind in OWN_KINDS
    ]


@dataclass(frozen=True)
class Scenario:
    name: str
    lines: list[Line]
    extra: dict[str, Figure]  # impacts per year outside any device (the cloud share)

    def total(self, criterion: str, with_extra: bool = True) -> Figure:
        figures = [line.total(criterion) for line in self.lines]
        if with_extra:
            figures.append(self.extra[criterion])
        return total(
            figures, f"{UNITS[criterion]}/year", f"sum of the {self.name} scenario's lines"
        )

    def terminals(self) -> int:
        """Terminals people use (the node's machine is not one, whatever its kind)."""
        return sum(1 for x in self.lines if x.device.kind in TERMINAL_KINDS and not x.device.node)


def scenarios(
    factors: Factors, fleet: list[Device], members: int, country: str
) -> tuple[Scenario, Scenario]:
    """(the household's real fleet with its node, everyone owning their own)."""
    grid = electricity(factors, country)
    real = Scenario("household", [line(factors, d, grid) for d in fleet],
                    {c: Figure.measured(0.0, f"{UNITS[c]}/year", "") for c in CRITERIA})  # fmt: skip
    own = Scenario("own", [line(factors, d, grid) for d in own_devices(factors, members)],
                   {c: Figure.unknown(f"{UNITS[c]}/year", CLOUD_UNKNOWN) for c in CRITERIA})  # fmt: skip
    return real, own


CLOUD_INSTANCE = "aws:c5.large"  # the small cloud instance of the vendored data (2 vCPUs)


def lent_compute(factors: Factors, cpu_hours: Figure, node: Line, cpus: int,
                 grid: dict[str, Figure]) -> tuple[Figure, Figure]:  # fmt: skip
    """Global warming of CPU hours lent, (on this node, on a small cloud instance), both on
    the node's electricity: here, the node's power per CPU and its manufacture per CPU-hour;
    there, the hours over the instance's vCPUs times its power and manufacture per hour."""
    power = node.device.power or Figure.unknown("W", "the node's power is unknown")
    energy = power.scaled(1 / cpus).times(cpu_hours, "Wh").scaled(1 / 1000, "kWh")
    made = node.embodied["gwp"].scaled(1 / (cpus * HOURS_PER_YEAR), "kgCO2e/h")
    here = energy.times(grid["gwp"], "kgCO2e") + made.times(cpu_hours, "kgCO2e")
    hours = cpu_hours.over(factors.figure("cloud", CLOUD_INSTANCE, "vcpu"), "h")
    watts = factors.figure("cloud", CLOUD_INSTANCE, "avg_power")
    cloud_energy = watts.times(hours, "Wh").scaled(1 / 1000, "kWh")
    made_there = factors.figure("cloud", CLOUD_INSTANCE, "gwp").times(hours, "kgCO2e")
    return here, cloud_energy.times(grid["gwp"], "kgCO2e") + made_there


@dataclass(frozen=True)
class Claim:
    key: str
    said: str  # the vision's words (English, translated on the page)
    low: float  # the claimed range (a reduction in %, or a factor)
    high: float
    verdict: str  # met, not met, not measurable
    figure: Figure
    why: str


MET, NOT_MET, NOT_MEASURABLE = "met", "not met", "not measurable here"


def _verdict(figure: Figure, low: float) -> str:
    """Met when even the figure's low bound reaches the claim; not met when even its high
    bound falls short; otherwise the range straddles the claim: not measurable."""
    if not figure.known:
        return NOT_MEASURABLE
    if figure.low >= low:  # type: ignore[operator]
        return MET
    if figure.high < low:  # type: ignore[operator]
        return NOT_MET
    return NOT_MEASURABLE


def lifetime_gain(factors: Factors, fleet: list[Device]) -> Figure:
    """How many times smaller the devices' yearly manufacture share is at their real lifetimes
    than at Boavizta's defaults (weighted by each device's embodied impact)."""
    at_default, real, entered = [], [], False
    for device in fleet:
        made = factors.figure("embodied", device.kind, "gwp")
        default = default_lifetime(factors, device.kind)
        if not (made.known and default.known and device.lifetime.known):
            continue
        entered = entered or device.lifetime.source != default.source
        at_default.append(made.over(default, "kgCO2e/year"))
        real.append(made.over(device.lifetime, "kgCO2e/year"))
    if not entered:
        return Figure.unknown("×", "no device has a lifetime or an age of its own in the registry")
    return total(at_default, "kgCO2e/year").over(total(real, "kgCO2e/year"), "×")


def claims(factors: Factors, real: Scenario, own: Scenario, fleet: list[Device]) -> list[Claim]:
    terminals = Figure.measured(float(real.terminals()), "devices", "the device registry")
    owned = Figure.measured(float(own.terminals()), "devices", "3 per member")
    fewer = reduction(terminals, owned) if own.terminals() else Figure.unknown("%", "no member")
    gain = lifetime_gain(factors, fleet)
    ours = real.total("gwp")
    theirs = own.total("gwp", with_extra=False)
    overall = reduction(ours, theirs)
    lent = Figure.unknown("%", "the registry has no device's computing power")
    found = [
        Claim("devices", N_("−60 to −80 per cent of devices to make"), 0.60, 0.80,
              _verdict(fewer, 0.60), fewer, N_("terminals registered against three per member")),
        Claim("lifetime", N_("lifetime ×2 to ×4"), 2.0, 4.0, _verdict(gain, 2.0), gain,
              N_("yearly manufacture share at the real lifetimes against Boavizta's defaults")),
        Claim("cloud", N_("−30 to −50 per cent of the energy to store and process data"), 0.30, 0.50,
              NOT_MEASURABLE, own.extra["gwp"], CLOUD_UNKNOWN),
        Claim("compute", N_("−30 to −70 per cent of computing power to make"), 0.30, 0.70,
              NOT_MEASURABLE, lent,
              N_("the registry has no device's computing power, so the machines lending spares"
                 " cannot be counted; the compute lent and borrowed is shown against a cloud"
                 " instance below")),
    ]  # fmt: skip
    why = N_("global warming per year, the household against everyone owning their own")
    verdict = _verdict(overall, 0.70)
    if verdict != MET:
        # Without the cloud share (unknown, at least zero), the reduction is a lower bound.
        verdict = NOT_MEASURABLE
        why = N_(
            "global warming per year, the household against everyone owning their own;"
            " the cloud share is unknown, so this reduction is only a lower bound"
        )
    found.append(Claim("total", N_("−70 to −90 per cent of the overall impact"), 0.70, 0.90, verdict,
                       overall, why))  # fmt: skip
    return found


__all__ = ["ESTIMATED", "MEASURED", "UNKNOWN", "Claim", "Device", "Line", "Scenario"]

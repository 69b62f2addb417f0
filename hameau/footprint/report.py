"""The report as data (JSON), a table of figures (CSV) or a document (Markdown): every figure
with its range, unit, label (measured / estimated / unknown) and source."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from hameau.footprint.factors import CRITERIA
from hameau.footprint.figures import Figure
from hameau.footprint.service import Report, lines

SESSIONS = "login sessions of the last 30 days on this device"
COLUMNS = ("section", "item", "metric", "value", "low", "high", "unit", "label", "source")
BOUNDARIES = {
    "household": "the devices in the registry (not retired) and the node's machine; each"
    " device's manufacture spread over its real lifetime, its use at the node's country's"
    " electricity; the internet box, the network and the services outside the home are left"
    " out unless registered",
    "own": "per member a smartphone, a laptop and a tablet at Boavizta's default lifetimes and"
    " use, plus a cloud account's share of a data centre (unknown); the same electricity",
}


def figure_rows(report: Report) -> list[tuple[str, str, str, Figure]]:
    """(section, item, metric, figure) for every figure of the report, in reading order."""
    found: list[tuple[str, str, str, Figure]] = []
    power = report.power
    for name, fig in (("chosen", power.chosen), ("wall meter", power.meter),
                      ("RAPL", power.rapl), ("estimate", power.estimate)):  # fmt: skip
        found.append(("node power", name, "power", fig))
    for line in lines(report):
        device = line.device
        found.append(("household devices", device.name, "lifetime", device.lifetime))
        if not device.node:
            found.append(
                ("household devices", device.name, "members per day", device.users_per_day)
            )
            hours = report.use[device.name].hours if device.name in report.use else 0.0
            used = Figure.measured(round(hours, 2), "h", SESSIONS)
            found.append(("household devices", device.name, "hours of use, 30 days", used))
        found.append(("household devices", device.name, "energy", line.energy))
        for c in CRITERIA:
            found.append(("household devices", device.name, f"{c} manufacture", line.embodied[c]))
            found.append(("household devices", device.name, f"{c} use", line.use[c]))
    for c in CRITERIA:
        found.append(("scenarios", "household", c, report.real.total(c)))
        found.append(("scenarios", "own: devices", c, report.own.total(c, with_extra=False)))
        found.append(("scenarios", "own: cloud share", c, report.own.extra[c]))
    if report.share and report.own_share:
        for c in CRITERIA:
            found.append(("member", report.member or "", c, report.share[c]))
            found.append(("member", "own: devices", c, report.own_share[c]))
    for app, fig in report.apps:
        found.append(("energy per app, 30 days", app, "energy", fig))
    if report.member_id is None:
        for what, fig in report.compute:
            found.append(("compute lent and borrowed, 30 days", what, "gwp", fig))
    for claim in report.claims:
        found.append(("claims", claim.key, claim.verdict, claim.figure))
    return found


def as_json(report: Report) -> str:
    data: dict[str, Any] = {
        "made_at": report.made_at.isoformat(), "members": report.members,
        "country": report.country, "data": f"Boavizta, {report.data_version}",
        "member": report.member, "boundaries": BOUNDARIES,
        "figures": [
            {"section": s, "item": i, "metric": m, **f.as_dict()} for s, i, m, f in figure_rows(report)
        ],
        "claims": [
            {"key": c.key, "said": c.said, "claimed": [c.low, c.high], "verdict": c.verdict,
             "why": c.why, "figure": c.figure.as_dict()}
            for c in report.claims
        ],
    }  # fmt: skip
    return json.dumps(data, indent=2, ensure_ascii=False)


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for section, item, metric, fig in figure_rows(report):
        writer.writerow((section, item, metric, fig.value, fig.low, fig.high, fig.unit,
                         fig.label, fig.source))  # fmt: skip
    return out.getvalue()


def number(value: float | None) -> str:
    if value is None:
        return "?"
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.2g}"


def said(fig: Figure) -> str:
    """A figure in words: value (low–high) unit, label."""
    if not fig.known:
        return f"unknown ({fig.source})"
    scale = 100 if fig.unit == "%" else 1
    text = number(fig.value * scale)  # type: ignore[operator]
    if number(fig.low) != number(fig.high):
        text += f" ({number(fig.low * scale)}–{number(fig.high * scale)})"  # type: ignore[operator]
    return f"{text} {fig.unit}, {fig.label}"


def as_markdown(report: Report) -> str:
    title = f"Footprint of {report.member}" if report.member else "Footprint of the household"
    out = [f"# {title}", "",
           f"{report.members} members; electricity of {report.country};"
           f" reference data: Boavizta ({report.data_version}); made {report.made_at:%Y-%m-%d %H:%M} UTC.",
           "", "## Boundaries", ""]  # fmt: skip
    out += [f"- **{name}**: {text}" for name, text in BOUNDARIES.items()]
    out += ["", "## The vision's claims", "", "| claim | verdict | this household | why |",
            "| --- | --- | --- | --- |"]  # fmt: skip
    out += [f"| {c.said} | {c.verdict} | {said(c.figure)} | {c.why} |" for c in report.claims]
    section = None
    for name, item, metric, fig in figure_rows(report):
        if name == "claims":
            continue
        if name != section:
            out += ["", f"## {name.capitalize()}", "", "| item | metric | figure | source |",
                    "| --- | --- | --- | --- |"]  # fmt: skip
            section = name
        out.append(f"| {item} | {metric} | {said(fig)} | {fig.source if fig.known else ''} |")
    return "\n".join(out) + "\n"


FORMATS = {"md": as_markdown, "json": as_json, "csv": as_csv}

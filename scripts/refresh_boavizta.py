"""Regenerate hameau/footprint/data/boavizta.csv from the `boaviztapi` package.

The node never loads boaviztapi (pandas, scipy, its whole API): run this in a throwaway
virtual environment, then review and commit the CSV it writes.

    python3 -m venv /tmp/bz && /tmp/bz/bin/pip install boaviztapi==2.5.0
    /tmp/bz/bin/python scripts/refresh_boavizta.py hameau/footprint/data/boavizta.csv

Where each value comes from (written in the `source` column of its row):
- embodied GWP of terminals: the package's own computation (`terminal_router`, the
  archetype's "from model" route), which reads data/crowdsourcing/ademe_base_impacts_negaoctet.csv;
- embodied ADP of terminals: that CSV's ADPe column (boaviztapi 2.5.0 answers "not implemented"
  for it), so its source says so; embodied PE of terminals: not in the data set (left empty);
- embodied GWP, ADP, PE of a server: the package's bottom-up computation of the archetype
  platform_compute_low (a small rack server), with its min and max;
- the server's average power: that computation's verbose `avg_power`;
- lifetimes, average power and use ratio: data/archetypes/user_terminal.csv
  (USAGE.hours_life_time / 8760, USAGE.avg_power "default;min;max", USAGE.use_time_ratio);
  the server's from data/archetypes/server.csv;
- a small cloud instance (aws c5.large, 2 vCPUs), per hour: the package's computation
  (`cloud_router`, duration 1 h): embedded GWP, ADP, PE and the verbose `avg_power`;
- electricity: data/factors.yml, "electricity" -> country -> gwp, adpe, pe;
- the power model of a machine whose CPU is known (power.py): the CPU's power at 0, 10, 50
  and 100 % load as ratios of its TDP (`CPUConsumptionProfileModel._TDP_RATIOS`), the RAM's
  per-DIMM power (`RAMConsumptionProfileModel`), and the share of the rest of a machine
  (`USAGE.other_consumption_ratio` of the server archetype); and, in data/cpu_specs.csv, each
  CPU of data/crowdsourcing/cpu_specs.csv with a TDP (name, TDP, cores, threads).

    /tmp/bz/bin/python scripts/refresh_boavizta.py hameau/footprint/data/boavizta.csv \
        hameau/footprint/data/cpu_specs.csv
"""

from __future__ import annotations

import asyncio
import csv
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

# hameau's device kinds -> Boavizta's archetypes (a "terminal", a thin client, has none).
TERMINALS = {
    "phone": ("smartphone", "smartphone-default"),
    "laptop": ("laptop", "laptop-perso"),
    "desktop": ("desktop", "desktop-perso"),
    "tablet": ("tablet", "tablet-default"),
    "box": ("box", "box-default"),
}
SERVER = "platform_compute_low"
CLOUD = ("aws", "c5.large")  # a small cloud instance (2 vCPUs) to set compute lent against
COUNTRIES = ("FRA", "BEL", "CHE", "DEU", "ESP", "ITA", "GBR", "EEE", "WOR")
LICENCE = "AGPL-3.0 (boaviztapi); electricity and terminal factors: ADEME Base IMPACTS / NegaOctet"
CPU_LICENCE = "AGPL-3.0 (boaviztapi); CPU specifications crowdsourced by Boavizta from TechPowerUp"
CPU_COLUMNS = ("name", "tdp", "cores", "threads", "version", "licence")
COLUMNS = ("table", "key", "metric", "value", "low", "high", "unit", "source", "version", "licence")


def _triple(attribute: dict[str, float]) -> tuple[float, float, float]:
    """An archetype's attribute as the package parses it ({"default", "min", "max"})."""
    value = float(attribute["default"])
    return value, float(attribute.get("min", value)), float(attribute.get("max", value))


async def _terminal(kind: str, archetype: str) -> dict[str, Any]:
    from boaviztapi.routers import terminal_router

    route = getattr(terminal_router, f"{kind}_impact_from_model")
    answer = await route(archetype=archetype, verbose=False, duration=None,
                         criteria=["gwp", "adp", "pe"])  # fmt: skip
    return answer["impacts"]


async def _server() -> dict[str, Any]:
    from boaviztapi.routers import server_router

    return await server_router.server_impact_from_model(
        archetype=SERVER, verbose=True, duration=None, criteria=["gwp", "adp", "pe"]
    )


async def _cloud(provider: str, instance: str) -> dict[str, Any]:
    from boaviztapi.routers import cloud_router

    return await cloud_router.instance_cloud_impact_from_model(
        provider=provider, instance_type=instance, verbose=True, duration=1,
        criteria=["gwp", "adp", "pe"],
    )  # fmt: skip


def _negaoctet(data: Path) -> dict[str, dict[str, str]]:
    rows = {}
    with (data / "crowdsourcing" / "ademe_base_impacts_negaoctet.csv").open() as source:
        for row in csv.DictReader(source):
            key = row["Category"].lower() + ("-" + row["type"] if row["type"] else "")
            rows.setdefault(key, row)
    return rows


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def rows() -> list[dict[str, Any]]:
    import yaml
    from boaviztapi import data_dir
    from boaviztapi.data.archetype import (
        get_cloud_instance_archetype,
        get_server_archetype,
        get_user_terminal_archetype,
    )

    data, release = Path(data_dir), version("boaviztapi")
    out: list[dict[str, Any]] = []

    def add(table: str, key: str, metric: str, triple: tuple[float, ...] | None, unit: str,
            source: str) -> None:  # fmt: skip
        value, low, high = triple if triple else ("", "", "")
        out.append(dict(zip(COLUMNS, (table, key, metric, value, low, high, unit, source,
                                      f"boaviztapi {release}", LICENCE), strict=True)))  # fmt: skip

    nega = _negaoctet(data)
    for ours, (kind, archetype) in TERMINALS.items():
        impacts = asyncio.run(_terminal(kind, archetype))
        gwp = impacts["gwp"]["embedded"]
        add("embodied", ours, "gwp", (gwp["value"], gwp["min"], gwp["max"]), "kgCO2e",
            f"terminal_router {kind} archetype {archetype} (embedded)")  # fmt: skip
        row = nega.get(archetype.replace("-default", "").replace("smartphone", "smartphone"))
        row = row or nega.get(kind)
        adp = _number(row["ADPe"]) if row else None
        add("embodied", ours, "adp", (adp, adp, adp) if adp is not None else None, "kgSbeq",
            "data/crowdsourcing/ademe_base_impacts_negaoctet.csv ADPe (API: not implemented)")  # fmt: skip
        add("embodied", ours, "pe", None, "MJ", "not in boaviztapi's terminal data")
        usage = get_user_terminal_archetype(archetype)["USAGE"]
        years = float(usage["hours_life_time"]["default"]) / 8760
        add("lifetime", ours, "years", (years, years, years), "years",
            f"data/archetypes/user_terminal.csv {archetype} USAGE.hours_life_time / 8760")  # fmt: skip
        add("use", ours, "avg_power", _triple(usage["avg_power"]), "W",
            f"data/archetypes/user_terminal.csv {archetype} USAGE.avg_power")  # fmt: skip
        ratio = float(usage["use_time_ratio"]["default"])
        add("use", ours, "use_time_ratio", (ratio, ratio, ratio), "1",
            f"data/archetypes/user_terminal.csv {archetype} USAGE.use_time_ratio")  # fmt: skip

    server = asyncio.run(_server())
    for metric, unit in (("gwp", "kgCO2e"), ("adp", "kgSbeq"), ("pe", "MJ")):
        found = server["impacts"][metric]["embedded"]
        add("embodied", "server", metric, (found["value"], found["min"], found["max"]), unit,
            f"server_router archetype {SERVER} (embedded, bottom-up)")  # fmt: skip
    usage = get_server_archetype(SERVER)["USAGE"]
    years = float(usage["hours_life_time"]["default"]) / 8760
    add("lifetime", "server", "years", (years, years, years), "years",
        f"data/archetypes/server.csv {SERVER} USAGE.hours_life_time / 8760")  # fmt: skip
    power = server["verbose"]["avg_power"]
    add("use", "server", "avg_power", (power["value"], power["min"], power["max"]), "W",
        f"server_router archetype {SERVER} verbose avg_power (at its time_workload)")  # fmt: skip

    provider, instance = CLOUD
    cloud = asyncio.run(_cloud(provider, instance))
    key, where = f"{provider}:{instance}", f"cloud_router {provider} {instance}, one hour"
    vcpu = float(get_cloud_instance_archetype(instance, provider)["vcpu"]["default"])
    add("cloud", key, "vcpu", (vcpu, vcpu, vcpu), "vCPU",
        f"data/archetypes/cloud/{provider}.csv {instance} vcpu")  # fmt: skip
    for metric, unit in (("gwp", "kgCO2e/h"), ("adp", "kgSbeq/h"), ("pe", "MJ/h")):
        found = cloud["impacts"][metric]["embedded"]
        add("cloud", key, metric, (found["value"], found["min"], found["max"]), unit,
            f"{where} (embedded)")  # fmt: skip
    power = cloud["verbose"]["avg_power"]
    add("cloud", key, "avg_power", (power["value"], power["min"], power["max"]), "W",
        f"{where} verbose avg_power (at its default workload)")  # fmt: skip

    _power_model(add, get_server_archetype(SERVER)["USAGE"])
    factors = yaml.safe_load((data / "factors.yml").read_text())["electricity"]
    for country in COUNTRIES:
        for metric, name, unit in (("gwp", "gwp", "kgCO2e/kWh"), ("adp", "adpe", "kgSbeq/kWh"),
                                   ("pe", "pe", "MJ/kWh")):  # fmt: skip
            entry = factors[country][name]
            value = float(entry["value"])
            add("electricity", country, metric, (value, value, value), unit,
                f"data/factors.yml electricity {country} {name}: {entry['source']}"
                f" ({entry['reference_year']})")  # fmt: skip
    return out


def _power_model(add: Any, usage: dict[str, Any]) -> None:
    from boaviztapi.models.consumption_profile.consumption_profile import (
        CPUConsumptionProfileModel as Cpu,
    )
    from boaviztapi.models.consumption_profile.consumption_profile import (
        RAMConsumptionProfileModel as Ram,
    )

    where = "models/consumption_profile/consumption_profile.py"
    for load, ratio in zip(Cpu._TDP_RATIOS_WORKLOAD, Cpu._TDP_RATIOS, strict=True):
        add("power", "cpu", f"tdp_ratio_{load}", (ratio, ratio, ratio), "1",
            f"{where} CPUConsumptionProfileModel TDP ratio at {load} % load")  # fmt: skip
    dimm = float(Ram.typical_dimm_capacity[Ram.default_memory_type])
    for metric, value, unit in (("dimm_base_power", Ram.dimm_base_power, "W"),
                                ("dimm_power_per_gb", Ram.dimm_power_per_gb, "W/GB"),
                                ("idle_power_ratio", Ram.idle_power_ratio, "1"),
                                ("typical_dimm_capacity", dimm, "GB")):  # fmt: skip
        add("power", "ram", metric, (value, value, value), unit,
            f"{where} RAMConsumptionProfileModel {metric}")  # fmt: skip
    add("power", "machine", "other_consumption_ratio", _triple(usage["other_consumption_ratio"]),
        "1", f"data/archetypes/server.csv {SERVER} USAGE.other_consumption_ratio")  # fmt: skip


def cpu_rows() -> list[dict[str, Any]]:
    from boaviztapi import data_dir

    release = version("boaviztapi")
    with (Path(data_dir) / "crowdsourcing" / "cpu_specs.csv").open(newline="") as source:
        found = [row for row in csv.DictReader(source) if row["tdp"] and row["name"]]
    return [{"name": row["name"], "tdp": float(row["tdp"]),
             "cores": float(row["cores"]) if row["cores"] else "",
             "threads": float(row["threads"]) if row["threads"] else "",
             "version": f"boaviztapi {release}", "licence": CPU_LICENCE} for row in found]  # fmt: skip


def _write(target: Path, columns: tuple[str, ...], found: list[dict[str, Any]]) -> None:
    with target.open("w", newline="") as output:
        writer = csv.DictWriter(output, columns, lineterminator="\n")
        writer.writeheader()
        for row in found:
            writer.writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
    print(f"{len(found)} rows written to {target}")


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hameau/footprint/data/boavizta.csv")
    cpus = Path(sys.argv[2] if len(sys.argv) > 2 else "hameau/footprint/data/cpu_specs.csv")
    try:
        found, specs = rows(), cpu_rows()
    except ImportError as missing:  # the node's own environment has neither on purpose
        sys.exit(
            f"{missing.name} is not installed here: run this script in a throwaway virtual"
            " environment with boaviztapi==2.5.0 and PyYAML (see its first lines)."
        )
    _write(target, COLUMNS, found)
    _write(cpus, CPU_COLUMNS, specs)


if __name__ == "__main__":
    main()

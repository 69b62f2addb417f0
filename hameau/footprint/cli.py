"""`hameau impact`: the footprint report, the devices' inventory fields, the node's own
machine, and a wall meter's reading entered by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hameau.accounts.cli import parse_acquired
from hameau.footprint.factors import NODE_KINDS
from hameau.node.cli import console, data_dir_option, node_session

impact_app = click.Group(
    "impact",
    help="The footprint: the household's devices and node, measured or from open data.",
    no_args_is_help=True,
)


@impact_app.command("report")
@click.option("--format", "form", type=click.Choice(["md", "json", "csv"]), default="md",
              help="Markdown (default), JSON or CSV (one row per figure).")  # fmt: skip
@click.option("--member", default=None, help="One member's share instead of the household's.")
@data_dir_option
def impact_report(form: str, member: str | None, data_dir: Path | None) -> None:
    """Print the footprint report: every figure measured, estimated (with its data) or unknown."""
    from hameau.accounts import members
    from hameau.footprint import report, service

    with node_session(data_dir) as (node, session):
        member_id = members.find_member(session, member).id if member else None
        made = service.build(node, session, member_id)
    sys.stdout.write(report.FORMATS[form](made))


@impact_app.command("device")
@click.argument("name")
@click.option("--kind", default=None, help="terminal, laptop, desktop, phone, tablet, box, server.")
@click.option("--shared/--personal", default=None, help="Shared by the household, or one member's.")
@click.option("--owner", default=None, help="The member owning a personal device.")
@click.option("--acquired", default=None, help="Acquisition date, YYYY-MM-DD.")
@click.option("--lifetime-years", type=int, default=None, help="Expected lifetime in years.")
@data_dir_option
def impact_device(
    name: str, kind: str | None, shared: bool | None, owner: str | None, acquired: str | None,
    lifetime_years: int | None, data_dir: Path | None,
) -> None:  # fmt: skip
    """Set a registered device's inventory fields (those not given stay as they are)."""
    from hameau.accounts import devices, members

    with node_session(data_dir) as (_, session):
        device = devices.find_device(session, name)
        shared = device.shared if shared is None else shared
        who = members.find_member(session, owner) if owner else device.owner
        devices.set_inventory(
            device, kind or device.kind, shared, owner=who,
            acquired_on=parse_acquired(acquired) if acquired else device.acquired_on,
            lifetime_years=lifetime_years if lifetime_years is not None else device.lifetime_years,
        )  # fmt: skip
        said = f"{device.kind}, {'shared' if device.shared else 'personal'}"
    console.print(f"Device [bold]{name}[/bold]: {said}.")


@impact_app.command("node")
@click.option("--kind", type=click.Choice(NODE_KINDS), default=None, help="The node's machine.")
@click.option("--acquired", default=None, help="When the machine was acquired, YYYY-MM-DD.")
@click.option("--lifetime-years", type=int, default=None, help="Its expected lifetime in years.")
@click.option("--country", default=None, help="Its electricity's country (FRA, BEL, DEU…).")
@click.option("--cpu", default=None,
              help="Its CPU as Boavizta's table names it, when the kernel does not (a virtual"
                   " machine): e.g. 'AMD EPYC 7282'; '' lets the kernel say again.")  # fmt: skip
@click.option(
    "--memory-gb",
    type=float,
    default=None,
    help="Its memory in GB, if /proc/meminfo's is not the machine's; 0 forgets it.",
)
@click.option(
    "--cpus",
    "list_cpus",
    default=None,
    metavar="WORDS",
    help="List the names of Boavizta's CPU table holding these words, and stop.",
)
@data_dir_option
def impact_node(kind: str | None, acquired: str | None, lifetime_years: int | None,
                country: str | None, cpu: str | None, memory_gb: float | None,
                list_cpus: str | None, data_dir: Path | None) -> None:  # fmt: skip
    """Describe the node's own machine, counted as a device of the household."""
    from hameau.footprint import inventory, machine

    if list_cpus is not None:
        words = list_cpus.lower().split()
        for name in (c.name for c in machine.specs()):
            if all(word in name.lower() for word in words):
                click.echo(name)
        return
    with node_session(data_dir) as (_, session):
        profile = inventory.set_node(session, kind=kind, acquired_on=parse_acquired(acquired),
                                     lifetime_years=lifetime_years, country=country,
                                     cpu=cpu, memory_gb=memory_gb)  # fmt: skip
        said = f"{profile.kind or 'desktop (not set)'}, electricity of {profile.country}"
        said += f", CPU {profile.cpu} (named by the admin)" if profile.cpu else ""
        said += f", {profile.memory_gb:g} GB of memory" if profile.memory_gb else ""
    console.print(f"The node's machine: {said}.")


@impact_app.command("meter")
@click.option("--watts", type=float, default=None, help="The power the meter shows now.")
@click.option("--kwh", type=float, default=None, help="The energy the meter counted…")
@click.option("--hours", type=float, default=None, help="…over this many hours.")
@click.option("--by", "by", required=True, help="Who read the meter.")
@data_dir_option
def impact_meter(watts: float | None, kwh: float | None, hours: float | None, by: str,
                 data_dir: Path | None) -> None:  # fmt: skip
    """Enter a wall meter's reading under the node's machine (measured: the whole machine)."""
    from hameau.footprint import power

    with node_session(data_dir) as (_, session):
        reading = power.add_reading(session, by, watts=watts, kwh=kwh, hours=hours)
        average = reading.watts
    console.print(f"Wall meter reading kept: {average:.1f} W on average.")

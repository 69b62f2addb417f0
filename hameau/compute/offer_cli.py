"""`hameau compute offer`: what this node lends, shown and changed (the page "What I lend")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from hameau.node.cli import console, data_dir_option

compute_app = click.Group(
    "compute",
    help="Lending idle compute to the hamlet: what this node lends, when, at what price.",
    no_args_is_help=True,
)


@compute_app.command("offer")
@click.option("--enable/--disable", default=None, help="Lend this node's compute, or stop.")
@click.option("--cores", type=int, default=None, help="Jobs that may run at once.")
@click.option("--memory", default=None, help="Memory per job, e.g. 512M or 2G.")
@click.option("--hours", default=None, help="Local hours when jobs may start: 22-7, 0-24 (always).")
@click.option("--price", default=None, help="Euros of credit per million fuel, e.g. 0.05.")
@click.option("--max-fuel", type=int, default=None, help="The most fuel one job may ask.")
@data_dir_option
def offer(enable: bool | None, cores: int | None, memory: str | None, hours: str | None,
          price: str | None, max_fuel: int | None, data_dir: Path | None) -> None:  # fmt: skip
    """Show what this node lends; with options, change it first."""
    from hameau.compute import idle, idle_words, offers
    from hameau.node.cli import node_session
    from hameau.web.i18n import Formatter

    with node_session(data_dir) as (node, session):
        made = offers.current(node, session)
        changes: dict[str, Any] = {"enabled": enable, "cores": cores, "max_fuel": max_fuel,
                   "memory_bytes": offers.parse_memory(memory) if memory is not None else None,
                   "hours": offers.parse_hours(hours) if hours is not None else None,
                   "price_per_mfuel": offers.parse_price(price) if price is not None else None}  # fmt: skip
        given = {key: value for key, value in changes.items() if value is not None}
        if given:
            made = offers.save(node, session, replace(made, **given))
        now = idle_words.said(idle.state(node), made.enabled, Formatter("en"), str)
    start, end = offers.hours_said(made.hours)
    lines = [
        f"Lending: {'on' if made.enabled else 'off'}",
        f"Cores: {made.cores}",
        f"Memory per job: {offers.size_said(made.memory_bytes)}",
        f"Hours: {'always' if made.hours == (0, 24) else f'{start} to {end}'} (local time)",
        f"Price: {offers.price_said(made.price_per_mfuel)} € of credit per million fuel",
        f"Most fuel per job: {made.max_fuel:,}",
        f"Now: {now}",
    ]
    console.print("\n".join(lines), highlight=False, markup=False)

"""The footprint's timer while serving: RAPL counters read every `footprint_sample_minutes`
(10 by default, never under 1), so each wrap-around is seen; no timer at all when the
counters are absent or unreadable (the report then estimates, and says so)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from hameau.node.datadir import Node

log = logging.getLogger("hameau.footprint")


def readable(root: Path) -> bool:
    """Whether a RAPL counter can be read here (a glance at the files; nothing imported)."""
    try:
        zones = [p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1]
        return bool(zones) and all(int((p / "energy_uj").read_text()) >= 0 for p in zones)
    except (OSError, ValueError):
        return False


def attach(app: Any, node: Node) -> None:
    root = Path(node.settings.footprint_powercap)
    if not readable(root):
        return
    every = max(60.0, node.settings.footprint_sample_minutes * 60.0)
    tasks: list[asyncio.Task[None]] = []

    def read() -> None:
        from hameau.footprint import power
        from hameau.node.db import transaction

        with transaction(node.sessions) as db:
            power.sample(db, root)

    async def loop() -> None:
        while True:
            try:
                await asyncio.to_thread(read)
            except Exception:  # a locked database or a vanished file: the next reading
                log.exception("reading the RAPL counters failed")
            await asyncio.sleep(every)

    async def stop() -> None:
        for task in tasks:
            task.cancel()

    app.state.starts.append(lambda: tasks.append(asyncio.get_running_loop().create_task(loop())))
    app.state.stops.append(stop)

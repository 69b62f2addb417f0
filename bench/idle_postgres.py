"""Wake-ups of an idle node on PostgreSQL: one `hameau serve` on a throwaway PostgreSQL 15
cluster (tests/pg.py), no load balancer, after a login and the home page; its context switches
over a quiet stretch, as `bench/idle.py` counts them, each thread's apart, and the bursts
(read every half second: when, which thread, how many switches). Prints one JSON line.

    .venv/bin/python bench/idle_postgres.py [--seconds 180]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path

import common  # noqa: F401  (puts the repository on the path)

from hameau.config import load_settings
from hameau.node.datadir import init_node
from tests import pg
from tests.e2e.served import login_cookie, serve
from tests.helpers import PASSWORD, add_member


def threads(pid: int) -> dict[str, int]:
    """Each thread's context switches (voluntary and not), keyed by its id and name."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status, name = (task / "status").read_text(), (task / "comm").read_text().strip()
        except OSError:  # a thread that ended meanwhile
            continue
        lines = [line for line in status.splitlines() if "ctxt_switches" in line]
        found[f"{task.name}:{name}"] = sum(int(line.split()[1]) for line in lines)
    return found


def watch(pid: int, seconds: float) -> tuple[dict[str, int], list[tuple[float, str, int]]]:
    start = previous = threads(pid)
    began, bursts = time.monotonic(), []
    while time.monotonic() - began < seconds:
        time.sleep(0.5)
        now = threads(pid)
        for name, count in now.items():
            if count != previous.get(name, 0):
                bursts.append(
                    (round(time.monotonic() - began, 1), name, count - previous.get(name, 0))
                )
        previous = now
    return {name: count - start.get(name, 0) for name, count in previous.items()}, bursts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    seconds = parser.parse_args().seconds
    root = Path(tempfile.mkdtemp(prefix="hameau-idle-pg-")) / "node"
    with pg.cluster() as cluster:
        pg.name_in_settings(root, cluster.new_database())
        node = init_node(load_settings(root, {}), "Association du quartier")
        add_member(node, "alex")
        node.close()
        with serve(root) as served:
            cookie = login_cookie(served.url, "alex", PASSWORD)
            home = urllib.request.Request(
                served.url + "/", headers={"Cookie": f"hameau_session={cookie}"}
            )
            urllib.request.urlopen(home).read()
            time.sleep(5)  # the login's and the page's work settled
            per_thread, bursts = watch(served.process.pid, seconds)
    total = sum(per_thread.values())
    print(json.dumps({
        "bench": "idle_postgres", "seconds": seconds,
        "wakeups_per_minute": round(total * 60 / seconds, 1),
        "threads": {name: count for name, count in per_thread.items() if count},
        "bursts": bursts,
    }))  # fmt: skip


if __name__ == "__main__":
    main()

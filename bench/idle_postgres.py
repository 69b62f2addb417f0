"""Wake-ups of an idle node on PostgreSQL: one `hameau serve` on a throwaway PostgreSQL 15
cluster (tests/pg.py), no load balancer, after a login and the home page; its context switches
over a quiet stretch, as `bench/idle.py` counts them, each thread's apart, and the bursts
(read every half second: when, which thread, how many switches). Prints one JSON line.
With --proxy haproxy|caddy: two processes behind that front (deploy/), each counted (their
health checks included).

    .venv/bin/python bench/idle_postgres.py [--seconds 180] [--proxy haproxy]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import common  # noqa: F401  (puts the repository on the path)

from hameau.config import load_settings
from hameau.node.datadir import init_node
from tests import pg
from tests.e2e.balanced import PROXIES, balanced
from tests.e2e.served import Served, login_cookie, serve
from tests.helpers import PASSWORD, add_member


def threads(pids: list[int]) -> dict[str, int]:
    """Each thread's context switches (voluntary and not), keyed by its process, id and name."""
    found = {}
    for task in (task for pid in pids for task in Path(f"/proc/{pid}/task").iterdir()):
        try:
            status, name = (task / "status").read_text(), (task / "comm").read_text().strip()
        except OSError:  # a thread that ended meanwhile
            continue
        lines = [line for line in status.splitlines() if "ctxt_switches" in line]
        found[f"{task.parent.parent.name}/{task.name}:{name}"] = sum(
            int(line.split()[1]) for line in lines
        )
    return found


def watch(pids: list[int], seconds: float) -> tuple[dict[str, int], list[tuple[float, str, int]]]:
    start = previous = threads(pids)
    began, bursts = time.monotonic(), []
    while time.monotonic() - began < seconds:
        time.sleep(0.5)
        now = threads(pids)
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
    parser.add_argument(
        "--proxy", choices=PROXIES, help="two processes behind it (default: one, alone)"
    )
    options = parser.parse_args()
    seconds = options.seconds
    root = Path(tempfile.mkdtemp(prefix="hameau-idle-pg-")) / "node"
    with pg.cluster() as cluster:
        pg.name_in_settings(root, cluster.new_database())
        node = init_node(load_settings(root, {}), "Association du quartier")
        add_member(node, "alex")
        node.close()
        with ExitStack() as stack:
            if options.proxy:
                front = stack.enter_context(balanced(root, 2, proxy=options.proxy))
                url, processes = front.url, front.processes
            else:
                alone: Served = stack.enter_context(serve(root))
                url, processes = alone.url, [alone]
            cookie = login_cookie(url, "alex", PASSWORD)
            home = urllib.request.Request(url + "/", headers={"Cookie": f"hameau_session={cookie}"})
            urllib.request.urlopen(home).read()
            time.sleep(5)  # the login's and the page's work settled
            pids = [process.process.pid for process in processes]
            per_thread, bursts = watch(pids, seconds)
    each = {
        pid: sum(n for name, n in per_thread.items() if name.startswith(f"{pid}/")) for pid in pids
    }
    print(json.dumps({
        "bench": "idle_postgres", "seconds": seconds, "proxy": options.proxy,
        "wakeups_per_minute": {pid: round(n * 60 / seconds, 1) for pid, n in each.items()},
        "threads": {name: count for name, count in per_thread.items() if count},
        "bursts": bursts,
    }))  # fmt: skip


if __name__ == "__main__":
    main()

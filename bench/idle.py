"""Idle cost of a node: resident memory, CPU and wakeups over a quiet minute.

Beside it in the same run: the same node announcing itself on the local network (mDNS,
listening on every interface, so `hamlet_announce` auto turns it on), the same node started
and asked only its `/healthz` (nobody visited it since it started), a bare FastAPI app on
the same server code, and the same app on uvicorn as shipped (which wakes every 0.1 s).
Prints one JSON line.

    .venv/bin/python bench/idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from contextlib import ExitStack

from common import Reading, bare_app, demo_node, log_in, read_process

from hameau.hamlet.nearby import browse

# Announcing on: bound to every interface, where the setting's default (auto) announces.
ANNOUNCING = {"HAMEAU_HOST": "0.0.0.0", "HAMEAU_HAMLET_ANNOUNCE": "auto"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    seconds = parser.parse_args().seconds
    with ExitStack() as stack:
        node, logins = stack.enter_context(demo_node())
        announcing, announcing_logins = stack.enter_context(demo_node(ANNOUNCING))
        unvisited, _ = stack.enter_context(demo_node())  # its /healthz answered, nothing else
        bare = stack.enter_context(bare_app())
        stock = stack.enter_context(bare_app(stock=True))
        # Warm each as a user would: the node's login and home page; the bare page.
        for served, passwords in ((node, logins), (announcing, announcing_logins)):
            cookie = log_in(served.url, "alex", passwords["alex"])
            request = urllib.request.Request(
                served.url + "/", headers={"Cookie": f"hameau_session={cookie}"}
            )
            urllib.request.urlopen(request).read()
        # The announcement is on the network (else its figures would mean nothing).
        found = browse(3.0)
        for peer in (bare, stock):
            urllib.request.urlopen(peer.url + "/").read()
        time.sleep(2)  # let the warm-up requests settle
        servers = {
            "hameau": node.pid,
            "hameau_announcing": announcing.pid,
            "hameau_unvisited": unvisited.pid,
            "bare_fastapi": bare.pid,
            "stock_uvicorn": stock.pid,
        }
        before = {name: read_process(pid) for name, pid in servers.items()}
        time.sleep(seconds)
        after = {name: read_process(pid) for name, pid in servers.items()}

    def figures(start: Reading, end: Reading) -> dict[str, float]:
        return {
            "rss_mb": round(end.rss_kb / 1024, 1),
            "cpu_seconds": round(end.cpu_seconds - start.cpu_seconds, 3),
            "wakeups_per_minute": round(
                (end.context_switches - start.context_switches) * 60 / seconds, 1
            ),
            "threads": end.threads,
        }

    result: dict[str, object] = {"bench": "idle", "seconds": seconds}
    result["announcement_seen"] = any(home.name == "Maison démo" for home in found)
    for name in servers:
        result[name] = figures(before[name], after[name])
    hameau, bare_figures = result["hameau"], result["bare_fastapi"]
    result["rss_ratio_vs_bare_fastapi"] = round(hameau["rss_mb"] / bare_figures["rss_mb"], 2)  # type: ignore[index]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

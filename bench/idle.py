"""Idle cost of a node: resident memory, CPU and wakeups over a quiet minute.

Beside it in the same run: a bare FastAPI app on the same server code, and the same app
on uvicorn as shipped (which wakes every 0.1 s). Prints one JSON line.

    .venv/bin/python bench/idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from contextlib import ExitStack

from common import Reading, bare_app, demo_node, log_in, read_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    seconds = parser.parse_args().seconds
    with ExitStack() as stack:
        node, logins = stack.enter_context(demo_node())
        bare = stack.enter_context(bare_app())
        stock = stack.enter_context(bare_app(stock=True))
        # Warm each as a user would: the node's login and home page; the bare page.
        cookie = log_in(node.url, "alex", logins["alex"])
        request = urllib.request.Request(
            node.url + "/", headers={"Cookie": f"hameau_session={cookie}"}
        )
        urllib.request.urlopen(request).read()
        for peer in (bare, stock):
            urllib.request.urlopen(peer.url + "/").read()
        time.sleep(2)  # let the warm-up requests settle
        servers = {"hameau": node.pid, "bare_fastapi": bare.pid, "stock_uvicorn": stock.pid}
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
    for name in servers:
        result[name] = figures(before[name], after[name])
    hameau, bare_figures = result["hameau"], result["bare_fastapi"]
    result["rss_ratio_vs_bare_fastapi"] = round(hameau["rss_mb"] / bare_figures["rss_mb"], 2)  # type: ignore[index]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

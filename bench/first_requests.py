"""What loading a part on its first request costs: each app's page asked three times by a
logged-in member of a demo node (first, second, third, in ms), then the CPU the server spends
per logged-in home page (`wrk -c10` for 5 s, the server's CPU time over the requests
answered). With --compare-tree, another checkout's node is served at the same time and
measured in turn. Prints one JSON line.

    .venv/bin/python bench/first_requests.py [--compare-tree PATH] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from common import ROOT, demo_node, log_in, read_process

PAGES = ("/files/mine/", "/agenda", "/notes", "/messages", "/travel", "/ai", "/account")


def asked(url: str, cookie: str) -> int | str:
    """Milliseconds to answer `url`, or the HTTP error."""
    started = time.perf_counter()
    request = urllib.request.Request(url, headers={"Cookie": f"hameau_session={cookie}"})
    try:
        urllib.request.urlopen(request).read()
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    return round((time.perf_counter() - started) * 1000)


def cpu_per_page(url: str, pid: int, cookie: str) -> float:
    """CPU milliseconds the server spent per home page answered during 5 s of `wrk -c10`."""
    before = read_process(pid).cpu_seconds
    output = subprocess.run(
        ["wrk", "-t1", "-c10", "-d5s", "-H", f"Cookie: hameau_session={cookie}", url + "/"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw errors against {url}:\n{output}")
    answered = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return round((read_process(pid).cpu_seconds - before) * 1000 / answered, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-tree", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=4)
    options = parser.parse_args()
    trees = {"hameau": ROOT} | (
        {"hameau_compared": options.compare_tree} if options.compare_tree else {}
    )
    result: dict[str, object] = {"bench": "first_requests"}
    with ExitStack() as stack:
        served = {}
        for name, tree in trees.items():
            node, logins = stack.enter_context(demo_node({"PYTHONPATH": str(tree)}))
            cookie = log_in(node.url, "alex", logins["alex"])
            asked(node.url + "/", cookie)
            served[name] = (node, cookie)
            pages = {page: [asked(node.url + page, cookie) for _ in range(3)] for page in PAGES}
            result[name] = {"pages_ms": pages, "home_cpu_ms": []}
        for _ in range(options.rounds):  # in turn, so a burst of load hits each
            for name, (node, cookie) in served.items():
                result[name]["home_cpu_ms"].append(cpu_per_page(node.url, node.pid, cookie))  # type: ignore[index]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

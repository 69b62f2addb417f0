"""A logged-in member's home page under load: p50/p99 latency and requests/s at 50
concurrent clients (wrk), beside a bare FastAPI route served by the same server code on
the same machine in the same run, and beside that route made to burn as much CPU per
request as hameau's page took (which tells the server's own behaviour at saturation from
hameau's). Prints one JSON line.

    .venv/bin/python bench/pages.py [--seconds 20] [--connections 50]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import urllib.request
from contextlib import ExitStack

from common import bare_app, demo_node, log_in

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, connections: int, cookie: str | None = None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: hameau_session={cookie}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw errors against {url}:\n{output}")

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()  # type: ignore[union-attr]
        return round(float(value) * UNITS[unit], 2)

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    return {"p50_ms": latency("50"), "p99_ms": latency("99"), "requests_per_s": round(rate, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=50)
    options = parser.parse_args()
    with ExitStack() as stack:
        node, logins = stack.enter_context(demo_node())
        bare = stack.enter_context(bare_app())
        cookie = log_in(node.url, "alex", logins["alex"])
        check = urllib.request.Request(
            node.url + "/", headers={"Cookie": f"hameau_session={cookie}"}
        )
        page = urllib.request.urlopen(check).read().decode()
        assert "Alex" in page, "the benchmark must load the logged-in home page"
        hameau = wrk(node.url + "/", options.seconds, options.connections, cookie)
        peer = wrk(bare.url + "/", options.seconds, options.connections)
        # A bare route that costs as much CPU per request as hameau's page did, here, now.
        cost_ms = round(1000 / hameau["requests_per_s"], 2)
        spin = wrk(f"{bare.url}/spin?ms={cost_ms}", options.seconds, options.connections)
    print(
        json.dumps(
            {
                "bench": "pages",
                "connections": options.connections,
                "seconds": options.seconds,
                "page_bytes": len(page.encode()),
                "hameau_home": hameau,
                "bare_fastapi": peer,
                "bare_fastapi_same_cost": {"cost_ms": cost_ms, **spin},
                "throughput_ratio": round(hameau["requests_per_s"] / peer["requests_per_s"], 2),
                "p50_ratio": round(hameau["p50_ms"] / peer["p50_ms"], 2),
                "p99_ratio": round(hameau["p99_ms"] / peer["p99_ms"], 2),
                "p99_ratio_vs_same_cost": round(hameau["p99_ms"] / spin["p99_ms"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()

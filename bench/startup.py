"""Start-up: the time from `hameau serve` to its first `/healthz` answer, beside a bare
FastAPI app (bench/bare_app.py, the same server code) started the same way; median of N
runs, each a fresh process on a free port. Prints one JSON line.

    .venv/bin/python bench/startup.py [--runs 7] [--compare-tree PATH]

--compare-tree also times `hameau serve` from another checkout (say, before a change) in
the same runs, on the same node.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, free_port, read_process


def start_to_healthz(command: list[str], tree: Path | None = None) -> tuple[float, float]:
    """Seconds from starting ``command --port P`` to its first 200 on /healthz, and the CPU
    seconds the server had used by then (a figure the machine's other load hardly moves)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree else None
    started = time.perf_counter()
    child = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tree,  # `python -m` looks in the working folder first
    )
    try:
        while True:
            if child.poll() is not None:
                raise SystemExit(f"{command} exited early with {child.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        elapsed = time.perf_counter() - started
                        return elapsed, read_process(child.pid).cpu_seconds
            except OSError:
                time.sleep(0.005)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--compare-tree", type=Path, default=None)
    options = parser.parse_args()
    runs, other = options.runs, options.compare_tree
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "node"
        subprocess.run(
            [sys.executable, "-m", "hameau", "init", "--name", "Bench", "--data-dir", str(data)],
            check=True, capture_output=True,
        )  # fmt: skip
        node = [sys.executable, "-m", "hameau", "serve", "--data-dir", str(data)]
        bare = [sys.executable, str(ROOT / "bench" / "bare_app.py")]
        start_to_healthz(node)  # once, so both are measured with the files in the page cache
        start_to_healthz(bare)
        times: dict[str, list[tuple[float, float]]] = {"hameau": [], "bare_fastapi": []}
        if other:
            times["hameau_compared"] = []
        for _ in range(runs):  # interleaved, so a burst of load on the machine hits each
            times["hameau"].append(start_to_healthz(node))
            times["bare_fastapi"].append(start_to_healthz(bare))
            if other:
                times["hameau_compared"].append(start_to_healthz(node, other))
    medians = {name: statistics.median(v[0] for v in values) for name, values in times.items()}
    result: dict[str, object] = {"bench": "startup", "runs": runs}
    if other:
        result["compared_tree"] = str(other)
    for name, values in times.items():
        walls = [wall for wall, _ in values]
        result[name] = {
            "median_s": round(medians[name], 3),
            "min_s": round(min(walls), 3),
            "max_s": round(max(walls), 3),
            "cpu_median_s": round(statistics.median(cpu for _, cpu in values), 3),
        }
    result["ratio_vs_bare_fastapi"] = round(medians["hameau"] / medians["bare_fastapi"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

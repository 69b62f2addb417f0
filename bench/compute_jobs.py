"""Jobs per second through matching, two runs, verification and settlement, across three homes
served as processes (A submits, B and C lend), beside the same jobs run straight in the sandbox
in this process (no hamlet, no verification, no payment). One JSON line.

Every job is the `pi` workload (a small Monte Carlo estimate, each with its own seed): the
figure is the hamlet's own cost per job (commands, signed requests, content in pieces, two
sandbox processes, the receipts, one escrow per run on the ledger), not the computing.

    .venv/bin/python bench/compute_jobs.py [--jobs 10] [--points 30000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT  # noqa: F401  (puts the repository on the path)

from hameau.compute import sandbox
from hameau.compute.workloads import build
from tests.e2e.hamlet_nodes import Home, hamlet

# As tests/e2e/test_compute_hamlet.py: every provider idle whatever the machine's load, and
# the submitter looks at its jobs every second while some are in flight.
SETTINGS = {"HAMEAU_COMPUTE_CHECK_SECONDS": "1", "HAMEAU_COMPUTE_LOST_SECONDS": "5",
            "HAMEAU_COMPUTE_IDLE_LOAD": "1000", "HAMEAU_COMPUTE_IDLE_MINUTES": "0.01"}  # fmt: skip


def _ok(home: Home, *args: str | Path) -> str:
    done = home.run(*args)
    if done.returncode != 0:
        sys.exit(f"{args}: {done.stdout}{done.stderr}")
    return done.stdout


def _direct(module: bytes, jobs: int, points: int) -> float:
    """Seconds to run the jobs one after the other in the sandbox here (compiling each time,
    as a provider does)."""
    started = time.perf_counter()
    for seed in range(jobs):
        with tempfile.TemporaryDirectory() as work:
            inputs, outputs = Path(work, "in"), Path(work, "out")
            inputs.mkdir()
            outputs.mkdir()
            limits = sandbox.Limits(fuel=10**9)
            outcome = sandbox.run(module, [str(seed), str(points)], inputs, outputs, limits)
            assert outcome.status == "ok", outcome.reason
    return time.perf_counter() - started


def _through_hamlet(module: Path, jobs: int, points: int) -> tuple[float, list[float]]:
    """Seconds from the first submission to the last job verified and paid, and each job's
    time from its submission to that."""
    with tempfile.TemporaryDirectory() as root:
        names = ("A", "B", "C")
        with hamlet(Path(root), names=names, env={n: dict(SETTINGS) for n in names}) as homes:
            a = homes["A"]
            _ok(a, "member", "add", "alice")
            _ok(a, "ledger", "issue", "alice", "500")
            for lender in (homes["B"], homes["C"]):
                _ok(lender, "compute", "offer", "--enable", "--price", "0.02",
                    "--max-fuel", "100000000000", "--memory", "256M")  # fmt: skip
            started = time.perf_counter()
            submitted: dict[str, float] = {}
            for seed in range(jobs):
                out = _ok(a, "compute", "submit", module, "--member", "alice",
                          "--arg", str(seed), "--arg", str(points), "--fuel", "50M",
                          "--memory", "64M", "--budget", "5", "--deadline", "10m")  # fmt: skip
                found = re.search(r"Job (\d+) submitted", out)
                assert found, out
                submitted[found.group(1)] = time.perf_counter()
            took: list[float] = []
            while submitted:
                for job in list(submitted):
                    first = _ok(a, "compute", "status", job).splitlines()[0]
                    if " failed" in first:
                        sys.exit(f"job {job} failed: {first}")
                    if " done" in first:
                        took.append(time.perf_counter() - submitted.pop(job))
                time.sleep(0.5)
            return time.perf_counter() - started, took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--points", type=int, default=30000)
    given = parser.parse_args()
    module = build("pi")
    direct = _direct(module.read_bytes(), given.jobs, given.points)
    total, took = _through_hamlet(module, given.jobs, given.points)
    print(json.dumps({
        "bench": "compute_jobs", "jobs": given.jobs, "points": given.points,
        "hamlet_s": round(total, 2), "hamlet_jobs_per_s": round(given.jobs / total, 3),
        "job_median_s": round(statistics.median(took), 2), "job_max_s": round(max(took), 2),
        "direct_s": round(direct, 2), "direct_jobs_per_s": round(given.jobs / direct, 2),
        "ratio_to_direct": round(total / direct, 1), "load": round(os.getloadavg()[0], 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

"""Short commands' start: `hameau member list` and `hameau travel status`, real runs on an
initialised node (travel status on a satellite whose home is out of reach, as on a train),
and `hameau travel sync` there (its whole start-up, up to the refused connection: exit 1),
beside `python -c pass`, `python -c "import typer"`, a bare Typer command (`typer.run` of a
function that prints a word) and `python -c "import sqlalchemy.orm"` started the same way. For each: the fastest and the median wall time of N runs, and the
median CPU seconds (user + system, which the machine's other load hardly moves). Prints one
JSON line.

    .venv/bin/python bench/cli_start.py [--runs 9] [--compare-tree PATH]

--compare-tree also times the three commands from another checkout (say, before a change),
its runs alternating with this one's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, free_port

BARE_TYPER = "import typer\ndef hello() -> None:\n    print('hello')\ntyper.run(hello)"


def timed(command: list[str], tree: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run; it must succeed (a sync: say home is out of reach)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "120"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    refused = "travel" in command and "sync" in command and "cannot be reached" in done.stderr
    if done.returncode != 0 and not refused:
        raise SystemExit(f"{command} failed: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def figures(command: list[str], trees: list[Path], runs: int) -> list[dict[str, float]]:
    """The figures of one command run by each tree, their runs alternating (a busy moment of
    the machine falls on all of them alike)."""
    for tree in trees:
        timed(command, tree)  # once first, so every run finds the same warm caches
    readings: list[list[tuple[float, float]]] = [[] for _ in trees]
    for _ in range(runs):
        for index, tree in enumerate(trees):
            readings[index].append(timed(command, tree))
    return [
        {
            "min_s": round(min(wall for wall, _ in taken), 3),
            "median_s": round(statistics.median(wall for wall, _ in taken), 3),
            "cpu_s": round(statistics.median(cpu for _, cpu in taken), 3),
        }
        for taken in readings
    ]


def satellite(folder: Path, tree: Path) -> Path:
    """An initialised node made a satellite of a home that cannot be reached (a closed port)."""
    root = folder / "satellite"
    hameau = [sys.executable, "-m", "hameau"]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    for args, given in (
        (["init", "--name", "Portable"], ""),
        (["member", "add", "alex", "--password-stdin"], "a good password\n"),
    ):
        subprocess.run(
            [*hameau, *args, "--data-dir", str(root)],
            input=given, text=True, check=True, capture_output=True, env=env, cwd=tree,
        )  # fmt: skip
    record = {
        "home": f"http://127.0.0.1:{free_port()}",
        "member": "alex",
        "device_name": "portable",
        "token": "not-a-real-token",
        "home_replica": "home",
        "takes": ["notes"],
    }
    (root / "satellite.json").write_text(json.dumps(record))
    os.chmod(root / "satellite.json", 0o600)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--compare-tree", type=Path)
    options = parser.parse_args()
    python = sys.executable
    result: dict[str, object] = {"bench": "cli_start", "runs": options.runs}
    with tempfile.TemporaryDirectory() as folder:
        data = satellite(Path(folder), ROOT)
        hameau, where = [python, "-m", "hameau"], ["--data-dir", str(data)]
        commands = {
            "member_list": [*hameau, "member", "list", *where],
            "travel_status": [*hameau, "travel", "status", *where],
            "travel_sync_unreachable": [*hameau, "travel", "sync", *where],
        }
        peers = {
            "python_pass": [python, "-c", "pass"],
            "python_import_typer": [python, "-c", "import typer"],
            # A bare Typer command run to its end: the floor of a command written with Typer.
            "bare_typer_command": [python, "-c", BARE_TYPER],
            # The floor of any command that opens the database through the models.
            "python_import_sqlalchemy_orm": [python, "-c", "import sqlalchemy.orm"],
        }
        for name, command in peers.items():
            [result[name]] = figures(command, [ROOT], options.runs)
        trees = [ROOT, *([options.compare_tree] if options.compare_tree else [])]
        for name, command in commands.items():
            found = figures(command, trees, options.runs)
            result[name] = found[0]
            if options.compare_tree:
                result[f"{name}_compared"] = found[1]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

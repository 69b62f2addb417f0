"""A satellite's re-sync of a few changed files, beside rsync and unison, several times over.

The quick companion of `bench/sync.py` (which also times the initial pack): a home node
with N files under Voyage/ is made once in --work (kept, so later runs reuse it: the upload
of 10,000 files takes minutes), a satellite packed from it, and plain copies made by rsync
and unison. Each trial rewrites --changed-percent of the files (new content, same size; the
same files in the source tree and at home), then times `hameau travel sync` (a new process,
as a user runs it), `rsync -a` and `unison -batch -auto`. Medians of --trials go to stdout
as one JSON line; with --profile FILE, one more sync runs under cProfile into FILE.

The command is timed both ways: on a satellite that is not served (`this`: the command
syncs in its own process) and on one served by `hameau serve` (`served`: the served process
syncs and the command prints its outcome, travel/control.py); `--no-served` leaves the
second out, `--served-only` the first. Both are packed from the same home and sync the same
changes.

With --compare DIR (another checkout of hameau, e.g. `git worktree add DIR main`), a second
satellite is packed and synced by the code in DIR, in the same trials on the same changes
(the order of the two alternates), so two versions are compared on the same noisy machine;
with the served one too, a fourth satellite is served by the code in DIR and synced by its
command (`served_compared`). The home is served by this checkout's code for all of them.

    .venv/bin/python bench/resync.py --work /tmp/resync [--files 10000] [--total-mb 100]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT
from nodes import HAMEAU, TAKE, make_home, pack_command, pack_env, served, sync_command, token
from sync import engine_seconds, make_tree, say, timed

from tests.e2e.served import serve


def run_in(checkout: Path, command: list[str], env: dict[str, str] | None = None
           ) -> tuple[float, str]:  # fmt: skip
    """``timed``, with the hameau of ``checkout`` (its folder first on the path)."""
    os.sync()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=checkout,
                          env={**(env or os.environ), "PYTHONPATH": str(checkout)})  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout + done.stderr


def satellites(work: Path, compare: Path | None, with_served: bool = False,
               not_served: bool = True) -> dict[str, tuple[Path, Path]]:  # fmt: skip
    """Each version compared: (its checkout, its satellite)."""
    found = {"this": (ROOT, work / "satellite")} if not_served else {}
    if with_served:
        found["served"] = (ROOT, work / "satellite-served")
    if compare is not None:
        if not_served:
            found["compared"] = (compare, work / "satellite-compared")
        if with_served:
            found["served_compared"] = (compare, work / "satellite-served-compared")
    return found


def attach(work: Path, url: str, compare: Path | None, with_served: bool, not_served: bool
           ) -> None:  # fmt: skip
    """Each satellite packed (once) and told where home is served now."""
    for checkout, satellite in satellites(work, compare, with_served, not_served).values():
        if not satellite.exists():
            run_in(checkout, pack_command(url, satellite), env=pack_env())
        saved = satellite / "satellite.json"
        saved.write_text(json.dumps({**json.loads(saved.read_text()), "home": url}))
        run_in(checkout, sync_command(satellite))  # start from both sides agreeing


def prepare(work: Path, files: int, total_mb: int, rng: random.Random) -> dict[str, int]:
    """The source tree and the home node (uploaded once), kept in ``work``; path: size."""
    source, home = work / "src", work / "home"
    layout_file = work / "layout.json"
    if layout_file.exists():
        return dict(json.loads(layout_file.read_text()))
    say(f"writing {files} files in {source}, making and filling the home (once)")
    layout = make_tree(source, files, total_mb << 20, rng)
    secret = make_home(home, quota_mb=max(4 * total_mb, 1000))
    with served(home, secret) as (_running, api):
        api.upload_tree(source, TAKE)
    layout_file.write_text(json.dumps(layout))
    return layout


def trial(work: Path, api: object, layout: dict[str, int], percent: float, rng: random.Random,
          sides: dict[str, tuple[Path, Path]]) -> dict[str, float]:  # fmt: skip
    source = work / "src"
    changed = rng.sample(sorted(layout), max(1, round(len(layout) * percent / 100)))
    time.sleep(1.1)  # a new mtime second for rsync's and unison's quick checks
    for path in changed:
        data = rng.randbytes(layout[path])
        (source / path).write_bytes(data)
        api.put(f"{TAKE}/{path}", data)  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    order = list(sides.items())
    for name, (checkout, satellite) in order if rng.random() < 0.5 else order[::-1]:
        found[name], output = run_in(checkout, sync_command(satellite))
        found[f"{name}_engine"] = engine_seconds(output)
    found["rsync"], _ = timed(["rsync", "-a", f"{source}/", f"{work / 'rsync-dst'}/"])
    found["unison"], _ = timed(
        ["unison", str(source), str(work / "unison-dst"), "-batch", "-auto", "-terse"],
        env={**os.environ, "UNISON": str(work / "unison-archive")},
    )
    say(", ".join(f"{key} {value:.3f} s" for key, value in found.items()))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--total-mb", type=int, default=100)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--compare", type=Path, help="another checkout, timed beside this one")
    parser.add_argument("--no-served", dest="served", action="store_false",
                        help="time the command on a satellite that is not served only")  # fmt: skip
    parser.add_argument("--served-only", action="store_true",
                        help="time the command on a served satellite only (quicker trials)")  # fmt: skip
    options = parser.parse_args()
    rng = random.Random(time.time_ns())
    options.work.mkdir(parents=True, exist_ok=True)
    layout = prepare(options.work, options.files, options.total_mb, rng)
    work = options.work
    with served(work / "home", token(work / "home", "resync")) as (running, api):
        (work / "rsync-dst").mkdir(exist_ok=True)
        (work / "unison-dst").mkdir(exist_ok=True)
        attach(work, running.url, options.compare, options.served, not options.served_only)
        timed(["rsync", "-a", f"{work / 'src'}/", f"{work / 'rsync-dst'}/"])
        timed(["unison", str(work / "src"), str(work / "unison-dst"), "-batch", "-auto"],
              env={**os.environ, "UNISON": str(work / "unison-archive")})  # fmt: skip
        sides = satellites(work, options.compare, options.served, not options.served_only)
        with contextlib.ExitStack() as serving:
            if options.served:  # served as on the laptop (it syncs by itself too)
                serving.enter_context(serve(work / "satellite-served"))
            if options.served and options.compare:  # the other checkout's code serves it
                compared = str(options.compare)
                serving.enter_context(serve(
                    work / "satellite-served-compared", env={"PYTHONPATH": compared},
                    prefix=("env", "-C", compared),
                ))  # fmt: skip
            runs = [trial(work, api, layout, options.changed_percent, rng, sides)
                    for _ in range(options.trials)]  # fmt: skip
        if options.profile:
            trial_profile(work, api, layout, options, rng)
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    ratios = {f"{key}_vs_{peer}": round(median[key] / median[peer], 2)
              for key in median if not key.endswith("_engine") and key not in ("rsync", "unison")
              for peer in ("rsync", "unison")}  # fmt: skip
    ratios |= {f"{key}_vs_rsync": round(median[key] / median["rsync"], 2)
               for key in median if key.endswith("_engine")}  # fmt: skip
    print(json.dumps({
        "bench": "resync", "files": len(layout), "trials": options.trials,
        **{f"{key}_s": round(value, 3) for key, value in median.items()}, **ratios,
    }))  # fmt: skip


def trial_profile(work: Path, api: object, layout: dict[str, int], options: argparse.Namespace,
                  rng: random.Random) -> None:  # fmt: skip
    """One more change set, synced under cProfile (the numbers above are without it)."""
    changed = rng.sample(sorted(layout), max(1, round(len(layout) * options.changed_percent / 100)))
    for path in changed:
        data = rng.randbytes(layout[path])
        (work / "src" / path).write_bytes(data)
        api.put(f"{TAKE}/{path}", data)  # type: ignore[attr-defined]
    command = [sys.executable, "-m", "cProfile", "-o", str(options.profile), *HAMEAU[1:],
               "travel", "sync", "--data-dir", str(work / "satellite")]  # fmt: skip
    timed(command)
    say(f"profile written to {options.profile}")


if __name__ == "__main__":
    main()

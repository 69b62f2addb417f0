"""A satellite's re-sync of a few changed files, beside rsync and unison, several times over.

The quick companion of `bench/sync.py` (which also times the initial pack): a home node
with N files under Voyage/ is made once in --work (kept, so later runs reuse it: the upload
of 10,000 files takes minutes), a satellite packed from it, and plain copies made by rsync
and unison. Each trial rewrites --changed-percent of the files (new content, same size; the
same files in the source tree and at home), then times `hameau travel sync` (a new process,
as a user runs it), `rsync -a` and `unison -batch -auto`. Medians of --trials go to stdout
as one JSON line; with --profile FILE, one more sync runs under cProfile into FILE.

    .venv/bin/python bench/resync.py --work /tmp/resync [--files 10000] [--total-mb 100]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from nodes import HAMEAU, TAKE, make_home, pack_command, pack_env, served, sync_command, token
from sync import engine_seconds, make_tree, say, timed


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


def trial(work: Path, api: object, layout: dict[str, int], percent: float, rng: random.Random
          ) -> dict[str, float]:  # fmt: skip
    source = work / "src"
    changed = rng.sample(sorted(layout), max(1, round(len(layout) * percent / 100)))
    time.sleep(1.1)  # a new mtime second for rsync's and unison's quick checks
    for path in changed:
        data = rng.randbytes(layout[path])
        (source / path).write_bytes(data)
        api.put(f"{TAKE}/{path}", data)  # type: ignore[attr-defined]
    hameau_s, output = timed(sync_command(work / "satellite"))
    rsync_s, _ = timed(["rsync", "-a", f"{source}/", f"{work / 'rsync-dst'}/"])
    unison_s, _ = timed(
        ["unison", str(source), str(work / "unison-dst"), "-batch", "-auto", "-terse"],
        env={**os.environ, "UNISON": str(work / "unison-archive")},
    )
    say(f"hameau {hameau_s:.2f} s (engine {engine_seconds(output)} s), rsync {rsync_s:.3f} s,"
        f" unison {unison_s:.3f} s")  # fmt: skip
    return {"hameau": hameau_s, "engine": engine_seconds(output), "rsync": rsync_s,
            "unison": unison_s}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--total-mb", type=int, default=100)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--profile", type=Path)
    options = parser.parse_args()
    rng = random.Random(time.time_ns())
    options.work.mkdir(parents=True, exist_ok=True)
    layout = prepare(options.work, options.files, options.total_mb, rng)
    work = options.work
    with served(work / "home", token(work / "home", "resync")) as (running, api):
        if not (work / "satellite").exists():
            say("packing the satellite, copying with rsync and unison (not timed)")
            timed(pack_command(running.url, work / "satellite"), env=pack_env())
            (work / "rsync-dst").mkdir()
            (work / "unison-dst").mkdir()
        timed(["rsync", "-a", f"{work / 'src'}/", f"{work / 'rsync-dst'}/"])
        timed(["unison", str(work / "src"), str(work / "unison-dst"), "-batch", "-auto"],
              env={**os.environ, "UNISON": str(work / "unison-archive")})  # fmt: skip
        timed(sync_command(work / "satellite"))  # start from both sides agreeing
        runs = [trial(work, api, layout, options.changed_percent, rng)
                for _ in range(options.trials)]  # fmt: skip
        if options.profile:
            trial_profile(work, api, layout, options, rng)
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print(json.dumps({
        "bench": "resync", "files": len(layout), "trials": options.trials,
        **{f"{key}_s": round(value, 3) for key, value in median.items()},
        "hameau_vs_rsync": round(median["hameau"] / median["rsync"], 2),
        "hameau_vs_unison": round(median["hameau"] / median["unison"], 2),
        "engine_vs_rsync": round(median["engine"] / median["rsync"], 2),
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

"""Satellite sync beside rsync and unison, on the same tree and the same change set, in one run.

- Initial copy: `hameau travel pack` of 10,000 files / 1 GiB (about 100 KiB each, random
  bytes, in 100 folders under Voyage/) from a served home node, beside `rsync -a SRC/ DST/`
  and a first `unison SRC DST -batch -auto` (fresh archive) of the same tree as plain files.
- Re-sync after 1% of the files were rewritten (new content, same size; the same files for
  all three): `hameau travel sync` beside `rsync -a` and `unison -batch -auto` again.

Since the node fsyncs every blob it stores, `rsync -a --fsync` is timed too, as a fairer
peer on durability.

Each copy is checked afterwards: every file's sha256 on the satellite (its blob files, read
through its files records) or in DST equals the source's, and `hameau travel status` has
nothing pending. The tree is written once as plain files and uploaded from there (not
timed). Progress goes to stderr, one JSON line to stdout.

    .venv/bin/python bench/sync.py [--files 10000] [--total-mb 1024] [--changed-percent 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nodes import (
    TAKE,
    hameau,
    make_home,
    opened,
    pack_command,
    pack_env,
    served,
    sync_command,
    tree_hashes,
)

REPORTED = re.compile(r"\(([\d.]+) MB in, ([\d.]+) MB out\)")
ENGINE = re.compile(r"MB out\) in ([\d.]+) s\.")


def engine_seconds(output: str) -> float:
    """The sync's own time, as the command reports it (without Python's start-up)."""
    found = ENGINE.search(output)
    return float(found.group(1)) if found else float("nan")


def say(message: str) -> None:
    print(f"[sync bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Seconds to run ``command`` to a zero exit (dirty pages flushed first), and its output."""
    os.sync()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout + done.stderr


def make_tree(root: Path, files: int, total: int, rng: random.Random) -> dict[str, int]:
    """``files`` random files summing to ``total`` bytes, in 10 x 10 folders; path: size."""
    average = total // files
    sizes = [rng.randint(average // 2, average * 3 // 2) for _ in range(files)]
    sizes[-1] += total - sum(sizes)
    layout = {}
    for number, size in enumerate(sizes):
        group = number % 100
        path = f"g{group // 10}/d{group % 10}/f{number:05}.bin"
        layout[path] = max(size, 0)
    for path, size in layout.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rng.randbytes(size))
    return layout


def rsync_bytes(output: str) -> int:
    found = re.search(r"Total bytes sent: ([\d,.]+)", output)
    return int(re.sub(r"[,.]", "", found.group(1))) if found else -1


def hameau_mb(output: str) -> tuple[float, float]:
    found = REPORTED.search(output)
    if not found:
        raise RuntimeError(f"no transfer report in:\n{output}")
    return float(found.group(1)), float(found.group(2))


def summary(output: str) -> str:
    return next((line for line in output.splitlines() if "MB in" in line), "")


def pending(satellite: Path) -> list[str]:
    """The counts `hameau travel status` gives for changes not yet on the other side."""
    output = hameau("travel", "status", "--data-dir", str(satellite)).stdout
    counts = re.findall(r"not yet (?:home|here) \(mine\): (\d+)", output)
    if len(counts) != 2:
        raise RuntimeError(f"unexpected status output:\n{output}")
    return [line for line, count in zip(("here", "home"), counts, strict=True) if count != "0"]


def check_satellite(satellite: Path, expected: dict[str, str]) -> None:
    """The satellite holds exactly the source's files (by sha256), nothing pending.

    Read in this process: a served satellite would sync by itself."""
    with opened(satellite) as local:
        found = local.hashes(TAKE)
    wanted = {f"{TAKE}/{path}": digest for path, digest in expected.items()}
    check_same("satellite", found, wanted)
    left = pending(satellite)
    if left:
        raise RuntimeError(f"travel status still has changes pending on: {left}")


def check_same(what: str, found: dict[str, str], wanted: dict[str, str]) -> None:
    if found != wanted:
        missing = sorted(wanted.keys() - found.keys())[:5]
        extra = sorted(found.keys() - wanted.keys())[:5]
        different = sorted(p for p in wanted.keys() & found.keys() if wanted[p] != found[p])[:5]
        raise RuntimeError(
            f"{what} differs from the source: missing {missing}, extra {extra},"
            f" different {different}"
        )


def ratio(ours: float, theirs: float) -> float:
    return round(ours / theirs, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--total-mb", type=int, default=1024)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (its path is said)")
    options = parser.parse_args()
    for tool in ("rsync", "unison"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/sync.py needs {tool}: run bash bench/tools.sh")
    total = options.total_mb * 1024 * 1024
    rng = random.Random(options.seed)
    work = Path(tempfile.mkdtemp(prefix="hameau-sync-bench-"))
    try:
        result = run(work, options.files, total, options.changed_percent, rng)
    except BaseException:
        say(f"failed; the work dir is kept: {work}")
        raise
    if options.keep:
        say(f"work dir kept: {work}")
    else:
        shutil.rmtree(work)
    print(json.dumps(result))


def run(
    work: Path, count: int, total: int, percent: float, rng: random.Random
) -> dict[str, object]:
    source, home, satellite = work / "src", work / "home", work / "satellite"
    by_rsync, by_unison = work / "rsync-dst", work / "unison-dst"
    by_rsync_fsync = work / "rsync-fsync-dst"
    rsync = ["rsync", "-a", "--stats", f"{source}/", f"{by_rsync}/"]
    rsync_fsync = ["rsync", "-a", "--fsync", f"{source}/", f"{by_rsync_fsync}/"]
    unison_env = {**os.environ, "UNISON": str(work / "unison-archive")}
    unison = ["unison", str(source), str(by_unison), "-batch", "-auto", "-terse"]

    def check_all(expected: dict[str, str]) -> None:
        """The satellite and the three peers' copies all hold the source's files."""
        check_satellite(satellite, expected)
        check_same("rsync's copy", tree_hashes(by_rsync), expected)
        check_same("rsync --fsync's copy", tree_hashes(by_rsync_fsync), expected)
        check_same("unison's copy", tree_hashes(by_unison), expected)

    say(f"writing {count} files, {total / 2**20:.0f} MiB in {work}")
    layout = make_tree(source, count, total, rng)
    expected = tree_hashes(source)
    say("making the home node and uploading the tree (not timed)")
    secret = make_home(home, quota_mb=max(4 * total // 10**6, 1000))
    result: dict[str, object] = {
        "bench": "sync",
        "files": count,
        "total_bytes": sum(layout.values()),
    }
    with served(home, secret) as (running, api):
        started = time.perf_counter()
        api.upload_tree(source, TAKE)
        result["upload_seconds"] = round(time.perf_counter() - started, 1)
        say(f"uploaded in {result['upload_seconds']} s; checking the home copy")
        check_same(
            "the home copy", api.hashes(TAKE), {f"{TAKE}/{p}": d for p, d in expected.items()}
        )

        # ---- initial copy
        say("pack: hameau travel pack")
        pack_seconds, output = timed(pack_command(running.url, satellite), env=pack_env())
        pack_in, _ = hameau_mb(output)
        pack_engine = engine_seconds(output)
        say(f"pack: {pack_seconds:.1f} s ({summary(output)})")
        by_rsync.mkdir()
        rsync_seconds, output = timed(rsync)
        rsync_sent = rsync_bytes(output)
        say(f"pack: rsync {rsync_seconds:.1f} s")
        by_rsync_fsync.mkdir()
        fsync_seconds, _ = timed(rsync_fsync)
        say(f"pack: rsync --fsync {fsync_seconds:.1f} s")
        by_unison.mkdir()
        unison_seconds, _ = timed(unison, env=unison_env)
        say(f"pack: unison {unison_seconds:.1f} s; checking the three copies")
        check_all(expected)
        result.update({
            "pack_hameau_s": round(pack_seconds, 2),
            "pack_rsync_s": round(rsync_seconds, 2),
            "pack_unison_s": round(unison_seconds, 2),
            "pack_hameau_vs_rsync": ratio(pack_seconds, rsync_seconds),
            "pack_hameau_vs_unison": ratio(pack_seconds, unison_seconds),
            "pack_rsync_fsync_s": round(fsync_seconds, 2),
            "pack_hameau_vs_rsync_fsync": ratio(pack_seconds, fsync_seconds),
            "pack_hameau_mb_in": pack_in,
            "pack_engine_s": pack_engine,
            "pack_engine_vs_rsync": ratio(pack_engine, rsync_seconds),
            "pack_engine_vs_rsync_fsync": ratio(pack_engine, fsync_seconds),
            "pack_rsync_bytes_sent": rsync_sent,
        })  # fmt: skip

        # ---- 1% rewritten, the same files everywhere
        changed = rng.sample(sorted(layout), max(1, round(count * percent / 100)))
        say(f"resync: rewriting {len(changed)} files in the source and at home (not timed)")
        time.sleep(1.1)  # a new mtime second for rsync's and unison's quick checks
        changed_bytes = 0
        for path in changed:
            data = rng.randbytes(layout[path])
            (source / path).write_bytes(data)
            api.put(f"{TAKE}/{path}", data)
            changed_bytes += len(data)
        expected = tree_hashes(source)
        say("resync: hameau travel sync")
        sync_seconds, output = timed(sync_command(satellite))
        sync_in, sync_out = hameau_mb(output)
        sync_engine = engine_seconds(output)
        say(f"resync: {sync_seconds:.2f} s ({summary(output)})")
        rsync_again, output = timed(rsync)
        rsync_sent_again = rsync_bytes(output)
        say(f"resync: rsync {rsync_again:.2f} s")
        fsync_again, _ = timed(rsync_fsync)
        say(f"resync: rsync --fsync {fsync_again:.2f} s")
        unison_again, _ = timed(unison, env=unison_env)
        say(f"resync: unison {unison_again:.2f} s; checking the three copies")
        check_all(expected)
        result.update({
            "changed_files": len(changed),
            "changed_bytes": changed_bytes,
            "resync_hameau_s": round(sync_seconds, 3),
            "resync_rsync_s": round(rsync_again, 3),
            "resync_unison_s": round(unison_again, 3),
            "resync_hameau_vs_rsync": ratio(sync_seconds, rsync_again),
            "resync_hameau_vs_unison": ratio(sync_seconds, unison_again),
            "resync_rsync_fsync_s": round(fsync_again, 3),
            "resync_hameau_vs_rsync_fsync": ratio(sync_seconds, fsync_again),
            "resync_engine_s": sync_engine,
            "resync_engine_vs_rsync": ratio(sync_engine, rsync_again),
            "resync_engine_vs_unison": ratio(sync_engine, unison_again),
            "resync_hameau_mb_in": sync_in,
            "resync_hameau_mb_out": sync_out,
            "resync_rsync_bytes_sent": rsync_sent_again,
            "verified": True,
        })  # fmt: skip
    return result


if __name__ == "__main__":
    main()

"""Satellite sync killed at random moments: after each kill, a full sync must converge and lose
nothing.

A home node is served and a satellite packed from it. Each trial makes random changes on
both sides (at home through its files API; on the satellite through the files service in
this process, since a served satellite syncs by itself): new files, edits, deletes,
renames, folders moved or deleted, and often the same path changed on both sides. Then it
starts `hameau travel sync`, SIGKILLs it after a random delay (0 to about a sync's usual
duration, counted from when it takes its lock, after Python's start-up), runs `hameau
travel sync` again, which must exit 0, and checks:

1. both sides hold the same paths with the same contents (every file read and hashed);
2. nothing written is lost: every content written whose path was not later overwritten or
   deleted (by the side that did it, on what it held) is current at some path on both
   sides (a conflict copy counts), and no content that nobody wrote appears;
3. every blob file of both nodes hashes to its own name.

Stops at the first failure (the work dir is kept and named). Prints one JSON line; exits
non-zero on any failure.

    .venv/bin/python bench/sync_kill.py [--trials 200] [--seed 1] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from nodes import (
    TAKE,
    Api,
    Local,
    file_sha,
    make_home,
    opened,
    pack_command,
    pack_env,
    served,
    sha,
    sync_command,
)

from hameau.travel.lock import LOCK_FILE

SMALL = 40_000
LARGE = (5 << 20, 20 << 20)
MAX_LARGE = 6  # large files current at once, at most


class Failure(Exception):
    """The sync lost, corrupted or failed to converge on something."""


def say(message: str) -> None:
    print(f"[sync kill {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Side:
    name: str  # "home" or "satellite"
    api: Api | Local
    data: Path


@dataclass
class Model:
    """What the trials wrote, and what both sides held when they last agreed."""

    view: dict[str, str] = field(default_factory=dict)  # path: sha256, as both sides agree
    sizes: dict[str, int] = field(default_factory=dict)  # sha256: size
    must: Counter[str] = field(default_factory=Counter)  # contents written, not overwritten since
    written: set[str] = field(default_factory=set)  # every content ever written


class Changer:
    """Random changes to one side, applied through its API and recorded in the model."""

    def __init__(self, side: Side, model: Model, rng: random.Random, log: list[str]) -> None:
        self.side, self.model, self.rng, self.log = side, model, rng, log
        self.view = dict(model.view)  # what this side holds as it changes

    def content(self, large: bool = False) -> bytes:
        if large:
            return self.rng.randbytes(self.rng.randint(*LARGE))
        return self.rng.randbytes(self.rng.choice([0, 1, self.rng.randint(2, SMALL)]))

    def large_count(self) -> int:
        return sum(1 for digest in self.view.values() if self.model.sizes[digest] >= LARGE[0])

    def forget(self, path: str) -> None:
        """What was at ``path`` here is deliberately replaced or deleted."""
        old = self.view.pop(path, None)
        if old is not None and self.model.must[old] > 0:
            self.model.must[old] -= 1

    def write(self, path: str, data: bytes | None = None) -> str:
        if data is None:
            data = self.content(large=self.rng.random() < 0.08 and self.large_count() < MAX_LARGE)
        folder = path.rpartition("/")[0]
        parts = folder.split("/")
        for depth in range(2, len(parts) + 1):
            self.side.api.mkdir("/".join(parts[:depth]))
        self.side.api.put(path, data)
        digest = sha(data)
        self.forget(path)
        self.view[path] = digest
        self.model.sizes[digest] = len(data)
        self.model.must[digest] += 1
        self.model.written.add(digest)
        self.log.append(f"{self.side.name}: write {path} ({len(data)} B, {digest[:8]})")
        return digest

    def delete(self, path: str) -> None:
        self.side.api.delete(path)
        self.forget(path)
        self.log.append(f"{self.side.name}: delete {path}")

    def move(self, path: str, to: str) -> None:
        self.side.api.move(path, to)
        moved = {p: d for p, d in self.view.items() if p == path or p.startswith(path + "/")}
        for old, digest in moved.items():
            del self.view[old]
            self.view[to + old[len(path) :]] = digest
        self.log.append(f"{self.side.name}: move {path} -> {to} ({len(moved)} file(s))")

    def folders(self) -> list[str]:
        return sorted({p.rpartition("/")[0] for p in self.view} | {TAKE})

    def new_path(self) -> str:
        folders = self.folders()
        folder = self.rng.choice(folders)
        if self.rng.random() < 0.1:
            folder = f"{folder}/n{self.rng.randrange(1000)}"
        name = f"new-{self.rng.randrange(10**6)}{self.rng.choice(['.txt', '.bin', ''])}"
        return f"{folder}/{name}"

    def random_change(self) -> None:
        paths = sorted(self.view)
        kind = self.rng.choices(
            ["new", "edit", "delete", "rename", "move folder", "delete folder"],
            weights=[30, 30, 20, 10, 2, 1],
        )[0]
        if not paths or kind == "new":
            self.write(self.new_path())
        elif kind == "edit":
            self.write(self.rng.choice(paths))
        elif kind == "delete":
            self.delete(self.rng.choice(paths))
        elif kind == "rename":
            path = self.rng.choice(paths)
            target = self.new_path()
            if target in self.view or target.rpartition("/")[0] not in self.folders():
                return
            self.move(path, target)
        else:
            folders = [f for f in self.folders() if f.count("/") >= 2]  # not Voyage/x itself
            small = [f for f in folders if sum(p.startswith(f + "/") for p in paths) <= 10]
            if not small:
                return
            folder = self.rng.choice(small)
            if kind == "move folder":
                target = f"{folder.rpartition('/')[0]}/m{self.rng.randrange(10**6)}"
                if target not in self.folders():
                    self.move(folder, target)
            else:
                self.side.api.delete(folder)
                for path in [p for p in paths if p.startswith(folder + "/")]:
                    self.forget(path)
                self.log.append(f"{self.side.name}: delete folder {folder}")


def both_sides(home: Changer, satellite: Changer, rng: random.Random) -> None:
    """The same path changed on both sides before they meet (one both still hold)."""
    paths = sorted(set(home.view) & set(satellite.view))
    kind = rng.choice(["edit/edit", "edit/delete", "delete/edit", "new/new", "delete/delete",
                       "same/same", "large/large"])  # fmt: skip
    if kind == "new/new" or not paths:
        path = home.new_path()
        home.write(path)
        satellite.write(path)
        return
    path = rng.choice(paths)
    if kind == "same/same":
        data = home.content()
        home.write(path, data)
        satellite.write(path, data)
        return
    if kind == "large/large":
        home.write(path, home.content(large=True))
        satellite.write(path, satellite.content(large=home.large_count() < MAX_LARGE))
        return
    first, second = kind.split("/")
    for changer, what in ((home, first), (satellite, second)):
        if what == "edit":
            changer.write(path)
        else:
            changer.delete(path)


def current(side: Side) -> dict[str, str]:
    return side.api.hashes(TAKE)


class BlobCheck:
    """Every blob file hashes to its name (each file hashed once while it stays the same)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, int, int, int]] = set()

    def problems(self, data: Path) -> list[str]:
        wrong = []
        for path in (data / "blobs").glob("??/??/*"):
            status = path.stat()
            key = (str(path), status.st_ino, status.st_size, status.st_mtime_ns)
            if key in self.seen:
                continue
            if file_sha(path) != path.name:
                wrong.append(str(path))
            else:
                self.seen.add(key)
        return wrong


def check(home: Side, satellite: Side, model: Model, blobs: BlobCheck) -> dict[str, str]:
    """The three checks; returns what both sides hold."""
    at_home, on_satellite = current(home), current(satellite)
    if at_home != on_satellite:
        only_home = sorted(at_home.keys() - on_satellite.keys())
        only_satellite = sorted(on_satellite.keys() - at_home.keys())
        different = sorted(p for p in at_home.keys() & on_satellite.keys()
                           if at_home[p] != on_satellite[p])  # fmt: skip
        raise Failure(
            f"the two sides differ: only at home {only_home[:10]}, only on the satellite"
            f" {only_satellite[:10]}, different content {different[:10]}"
        )
    present = set(at_home.values())
    lost = sorted(
        digest for digest, count in model.must.items() if count > 0 and digest not in present
    )
    if lost:
        raise Failure(f"{len(lost)} content(s) written and never overwritten are gone: {lost[:5]}")
    strange = sorted(present - model.written)
    if strange:
        raise Failure(
            f"content(s) nobody wrote are at {[p for p, d in at_home.items() if d in strange][:5]}"
        )
    # The same content written twice and merged (both sides wrote it at the same path) is
    # one file from now on: one overwrite of it is enough to let it go.
    held = Counter(at_home.values())
    for digest, count in model.must.items():
        model.must[digest] = min(count, held[digest])
    for side in (home, satellite):
        wrong = blobs.problems(side.data)
        if wrong:
            raise Failure(f"blob files of the {side.name} do not hash to their names: {wrong[:5]}")
    return at_home


def seed_files(api: Api, model: Model, rng: random.Random, files: int, large: int) -> None:
    changer = Changer(Side("home", api, Path()), model, rng, [])
    api.mkdir(TAKE)
    for number in range(files):
        folder = f"{TAKE}/{['a', 'b', 'c/d', 'c/e', 'f'][number % 5]}"
        changer.write(f"{folder}/f{number:04}.bin", rng.randbytes(rng.randint(1, SMALL)))
    for number in range(large):
        changer.write(f"{TAKE}/big/big{number}.bin", changer.content(large=True))
    model.view = changer.view


def run_sync(satellite: Path, log: Path) -> tuple[int, float, float]:
    """Run a sync to its end: its exit code, seconds in all, seconds once it held its lock."""
    with log.open("a") as output:
        started = time.perf_counter()
        child = subprocess.Popen(sync_command(satellite), stdout=output, stderr=subprocess.STDOUT)
        locked = wait_for_lock(child, satellite)
        code = child.wait()
    ended = time.perf_counter()
    return code, ended - started, ended - (locked or ended)


def held_lock(pid: int, lock: Path) -> bool:
    """Whether process ``pid`` holds a lock on ``lock`` (read from /proc/locks, not taken)."""
    try:
        inode = lock.stat().st_ino
    except FileNotFoundError:
        return False
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if (
            len(fields) >= 6
            and fields[4] == str(pid)
            and fields[5].rsplit(":", 1)[-1] == str(inode)
        ):
            return True
    return False


def wait_for_lock(child: subprocess.Popen[bytes], satellite: Path) -> float | None:
    """When the sync took its lock (its work starts), or None if it ended first."""
    lock = satellite / LOCK_FILE
    while child.poll() is None:
        if held_lock(child.pid, lock):
            return time.perf_counter()
        time.sleep(0.002)
    return None


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def run(work: Path, trials: int, rng: random.Random, files: int, large: int) -> dict[str, object]:
    home_dir, satellite_dir = work / "home", work / "satellite"
    sync_log, trial_log = work / "sync.log", work / "trials.log"
    model = Model()
    secret = make_home(home_dir, quota_mb=100_000)
    result: dict[str, object] = {"bench": "sync_kill", "trials": 0, "failures": 0,
                                 "kills_mid_sync": 0}  # fmt: skip
    started = time.perf_counter()
    with served(home_dir, secret) as (home_running, home_api):
        say(f"seeding the home node with {files} files and {large} large ones")
        seed_files(home_api, model, rng, files, large)
        subprocess.run(pack_command(home_running.url, satellite_dir), env=pack_env(),
                       check=True, capture_output=True)  # fmt: skip
        with opened(satellite_dir) as satellite_api:
            home = Side("home", home_api, home_dir)
            satellite = Side("satellite", satellite_api, satellite_dir)
            blobs = BlobCheck()
            model.view = check(home, satellite, model, blobs)
            durations = []
            for calibration in range(3):
                log: list[str] = []
                change_both(home, satellite, model, rng, log)
                code, _seconds, seconds = run_sync(satellite_dir, sync_log)
                if code != 0:
                    raise Failure(
                        f"calibration sync {calibration} exited {code}:\n{tail(sync_log)}"
                    )
                durations.append(seconds)
                model.view = check(home, satellite, model, blobs)
            typical = max(durations)
            result["typical_sync_seconds"] = round(typical, 2)
            say(f"a sync works about {typical:.2f} s once started; {trials} trials")
            conflicts = 0
            for trial in range(trials):
                log = [f"--- trial {trial}"]
                change_both(home, satellite, model, rng, log)
                delay = rng.uniform(0, typical * 1.2)
                with sync_log.open("a") as output:
                    output.write(f"--- trial {trial}: killed {delay:.3f} s after its start\n")
                    output.flush()
                    child = subprocess.Popen(sync_command(satellite_dir), stdout=output,
                                             stderr=subprocess.STDOUT)  # fmt: skip
                    # Counted from when it holds its lock: Python's start-up is no sync.
                    if wait_for_lock(child, satellite_dir) is not None:
                        time.sleep(delay)
                    landed = child.poll() is None
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    output.write(
                        f"--- trial {trial}: {'killed' if landed else 'done before'}; again\n"
                    )
                log.append(
                    f"killed {delay:.3f} s in ({'mid-sync' if landed else 'after it ended'})"
                )
                with trial_log.open("a") as written:
                    written.write("\n".join(log) + "\n")
                result["kills_mid_sync"] += int(landed)  # type: ignore[operator]
                code, _seconds, _working = run_sync(satellite_dir, sync_log)
                result["trials"] = trial + 1
                if code != 0:
                    raise Failure(
                        f"trial {trial}: the sync after the kill exited {code}:\n{tail(sync_log)}"
                    )
                try:
                    agreed = check(home, satellite, model, blobs)
                except Failure as failure:
                    raise Failure(f"trial {trial}: {failure}") from None
                conflicts += sum("(conflit " in p for p in agreed.keys() - model.view.keys())
                model.view = agreed
                if (trial + 1) % 10 == 0:
                    say(f"{trial + 1} trials, {result['kills_mid_sync']} killed mid-sync,"
                        f" {len(agreed)} files, {conflicts} conflict copies so far")  # fmt: skip
            result["conflict_copies"] = conflicts
            result["files_at_end"] = len(model.view)
            result["contents_kept"] = sum(1 for count in model.must.values() if count > 0)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def change_both(
    home: Side, satellite: Side, model: Model, rng: random.Random, log: list[str]
) -> None:
    here, there = Changer(home, model, rng, log), Changer(satellite, model, rng, log)
    for changer in (here, there):
        for _ in range(rng.randint(0, 6)):
            changer.random_change()
    if rng.random() < 0.5:
        both_sides(here, there, rng)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None, help="random by default (said)")
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--large", type=int, default=3, help="files of 5-20 MB at the start")
    parser.add_argument("--keep", action="store_true", help="keep the work dir even on success")
    options = parser.parse_args(argv)
    seed = options.seed if options.seed is not None else random.randrange(10**9)
    say(f"seed {seed}")
    work = Path(tempfile.mkdtemp(prefix="hameau-sync-kill-"))
    try:
        result = run(work, options.trials, random.Random(seed), options.files, options.large)
    except Failure as failure:
        say(f"FAILURE: {failure}")
        say(f"data dirs kept in {work} (home/, satellite/, sync.log, trials.log)")
        print(json.dumps({"bench": "sync_kill", "seed": seed, "failures": 1,
                          "failure": str(failure)[:2000], "work_dir": str(work)}))  # fmt: skip
        return 1
    except BaseException:
        say(f"stopped; data dirs kept in {work}")
        raise
    result["seed"] = seed
    if options.keep:
        say(f"work dir kept: {work}")
    else:
        shutil.rmtree(work)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

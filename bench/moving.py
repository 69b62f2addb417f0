"""Moving a member's environment of about 1 GiB (a few big files and some thousands of small
ones, random bytes) from node A to node B, both served with --tls and paired with the
command line, with `hameau move` (contents by hash, in signed streams of up to 256 MiB, each
content verified at arrival and stored durably, then the import and the switch), beside
`rsync -a` of A's data directory to an empty directory, `rsync -a` then `sync`, and
`rsync -a --fsync` (rsync's own durable copy: the same durability as the move, which stores
nothing it has not put on the disk), in the same run. Prints one JSON line.

    .venv/bin/python bench/moving.py [--big 4] [--big-mb 200] [--small 3000] [--small-kb 70]
                                     [--rounds 1]

With --rounds N, each round starts two new nodes, and the line gives the medians over the
rounds of the times and of the ratios (each round's move beside its own rsync), then each
round's figures: this machine's times vary by a third from one run to the next.

With PROFILE=FILE in the environment, the move's command runs under cProfile into FILE;
with PHASES=1, the line also gives the sender's steps' wall times (bench/move_phases.py):
the command's imports, the offer, each export, the streams of contents (summed: two may be
in flight at once), `send` (the wall time of sending them, the first copy's and the last
changes'), the switch. With SPY=FOLDER, py-spy samples the command and B's server (below).
`cpu_s`: the CPU seconds of the move's command, and of A's and B's served processes during it.
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

from common import ROOT  # noqa: F401  (puts the repository on the path)

from hameau.accounts import members
from hameau.config import Settings
from hameau.files import service as files
from hameau.node.datadir import open_node
from hameau.node.db import transaction
from tests.e2e.hamlet_nodes import hamlet


def store(node: object, size: int) -> str:
    """Random content of ``size`` bytes into the node's blob store, streamed."""
    with node.blobs.writer() as writer:  # type: ignore[attr-defined]
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            writer.write(chunk)
            left -= len(chunk)
        return str(writer.commit())


def furnish(data: Path, big: int, big_size: int, small: int, small_size: int) -> int:
    node = open_node(Settings(data_dir=data))
    total = 0
    try:
        with transaction(node.sessions) as session:
            member = members.add_member(session, "mover", "correct horse", quota_bytes=8 << 30)
            mine = files.space(member, "mine")
            files.make_folder(session, member, mine, ["small"])
            sizes = [("big", number, big_size) for number in range(big)]
            sizes += [("small", number, small_size) for number in range(small)]
            for folder, number, size in sizes:
                # Small ones are photos: text files would also be indexed for search at arrival.
                parts = [f"film-{number}.mkv"] if folder == "big" else ["small", f"{number}.jpg"]
                plan = files.plan_write(session, member, mine, parts)
                files.record_write(session, plan, member, store(node, size), size, "", node.blobs)
                total += size
    finally:
        node.close()
    return total


def warm(folder: Path) -> None:
    """Every file under ``folder`` read once (into the page cache)."""
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as source:
                while source.read(4 << 20):
                    pass


def timed(*command: str | Path, phases: dict[str, float] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run([*map(str, command)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode or os.environ.get("VERBOSE"):
        print(done.stderr + done.stdout, file=sys.stderr)
    if done.returncode:
        raise SystemExit(1)
    for line in done.stderr.splitlines() if phases is not None else ():
        if line.startswith("PHASE "):
            _word, name, _start, seconds = line.split()
            phases[name] = round(phases.get(name, 0.0) + float(seconds), 2)
    return elapsed


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def spy(receiver: int, profile: list[str]) -> tuple[subprocess.Popen[bytes] | None, list[str]]:
    """With SPY=FOLDER (and py-spy on PATH): B's served process and the command, sampled into
    FOLDER/receiver.txt and FOLDER/sender.txt (collapsed stacks, threads apart, idle left out)."""
    folder = os.environ.get("SPY")
    if not folder or profile:
        return None, []
    Path(folder).mkdir(parents=True, exist_ok=True)
    common = ["--format", "raw", "--threads", "--rate", "250", "--nonblocking",
              *(["--idle"] if os.environ.get("SPY_IDLE") else [])]  # fmt: skip
    receiver_spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(receiver), "--duration", "25", *common,
         "--output", f"{folder}/receiver.txt"], stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return receiver_spy, ["py-spy", "record", *common, "--subprocesses", "--output",
                          f"{folder}/sender.txt", "--"]  # fmt: skip


def one_round(given: argparse.Namespace) -> dict[str, object]:
    """Two new nodes, the member furnished at A, rsync's two copies, then the move."""
    with tempfile.TemporaryDirectory(prefix="hameau-moving-") as folder:
        root = Path(folder)
        rule = {"B": {"HAMEAU_MOVING_ACCEPT_FROM": "A"}}
        with hamlet(root, names=("A", "B"), pairs=(("B", "A"),), env=rule) as homes:
            a = homes["A"]
            size = furnish(a.data_dir, given.big, given.big_mb << 20, given.small,
                           given.small_kb << 10)  # fmt: skip
            subprocess.run(["sync"], check=True)
            # Read once, as the move will find it: in the page cache (the node wrote the big
            # files past it), so that rsync's first copy does not pay a cold read the move does
            # not pay.
            warm(a.data_dir)
            rsync = timed("rsync", "-a", f"{a.data_dir}/", root / "rsync-copy")
            subprocess.run(["sync"], check=True)
            synced = timed("sh", "-c", f"rsync -a '{a.data_dir}/' '{root}/rsync-synced' && sync")
            subprocess.run(["sync"], check=True)
            # rsync's own durable copy: each file written to the disk before the next.
            fsynced = timed("rsync", "-a", "--fsync", f"{a.data_dir}/", root / "rsync-fsync")
            load = os.getloadavg()[0]
            profile = (
                ["-m", "cProfile", "-o", os.environ["PROFILE"]] if "PROFILE" in os.environ else []
            )
            phases: dict[str, float] | None = {} if os.environ.get("PHASES") else None
            runner = [str(Path(__file__).with_name("move_phases.py"))] if phases is not None else [
                "-m", "hameau"]  # fmt: skip
            served = {name: homes[name].served.process.pid for name in ("A", "B")}
            before = {name: cpu_of(pid) for name, pid in served.items()}
            command = children_cpu()
            spies = spy(served["B"], profile)
            moving = timed(*spies[1], sys.executable, *profile, *runner, "move", "mover", "--to",
                           "B", "--data-dir", a.data_dir, phases=phases)  # fmt: skip
            if spies[0] is not None:
                spies[0].wait(timeout=60)
            cpu = {"command": children_cpu() - command}
            cpu |= {f"{name}_served": cpu_of(pid) - before[name] for name, pid in served.items()}
            status = a.run("move", "status", "mover").stdout.strip()
    return {
        "bytes": size, "files": given.big + given.small, "rsync_s": round(rsync, 2),
        "rsync_sync_s": round(synced, 2), "rsync_fsync_s": round(fsynced, 2),
        "move_s": round(moving, 2), "ratio": round(moving / rsync, 2),
        "ratio_synced": round(moving / synced, 2), "ratio_fsync": round(moving / fsynced, 2),
        "load": [round(load, 1), round(os.getloadavg()[0], 1)],
        "move_mb_s": round(size / moving / (1 << 20), 1), "status": status,
        "cpu_s": {name: round(seconds, 2) for name, seconds in cpu.items()},
        **({"phases": phases} if phases is not None else {}),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=4)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--small", type=int, default=3000)
    parser.add_argument("--small-kb", type=int, default=70)
    parser.add_argument("--rounds", type=int, default=1)
    given = parser.parse_args()
    rounds = [one_round(given) for _ in range(given.rounds)]
    if len(rounds) == 1:
        print(json.dumps(rounds[0]))
        return
    keys = (
        "rsync_s",
        "rsync_sync_s",
        "rsync_fsync_s",
        "move_s",
        "ratio",
        "ratio_synced",
        "ratio_fsync",
    )
    print(json.dumps({
        "rounds": len(rounds), "bytes": rounds[0]["bytes"],
        **{f"median_{key}": statistics.median(r[key] for r in rounds) for key in keys},  # type: ignore[misc]
        "each": [{key: r[key] for key in (*keys, "load", "cpu_s", "phases") if key in r}
                 for r in rounds],
    }))  # fmt: skip


if __name__ == "__main__":
    main()

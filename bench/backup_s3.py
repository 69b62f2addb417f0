"""Backing up a node whose content is in S3 (a SeaweedFS cluster started here): the node's way
(the store's blobs shown to restic as a folder, stubs for what the last snapshot holds) beside
plain restic backing up the same blobs from a local folder, in the same run: a first backup,
a second after 1 % more content, then a restore (into a fresh S3 prefix, every hash
verified, beside `restic restore` into a folder). And the way not taken: one `restic backup
--stdin` per blob, timed on a few and multiplied out. Wall and CPU seconds (this process and
its children). Prints one JSON line.

    .venv/bin/python bench/backup_s3.py [--blobs 400] [--kib 256]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repository on the path)

from hameau.backup import key, restore, service
from hameau.backup.sheet import Sheet
from hameau.config import load_settings
from hameau.node.datadir import init_node
from tests.seaweed import seaweedfs

RESTIC = "/usr/bin/restic"


def measured(work: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds (this process and the children it waited for)."""
    before, started = os.times(), time.perf_counter()
    work()
    after = os.times()
    cpu = sum(after[:4]) - sum(before[:4])
    return round(time.perf_counter() - started, 2), round(cpu, 2)


def plain(repository: Path, *args: str, cwd: Path | None = None, data: bytes | None = None) -> None:
    env = {**os.environ, "RESTIC_PASSWORD": "bench", "RESTIC_CACHE_DIR": str(repository) + ".cache"}
    subprocess.run(
        [RESTIC, "-r", str(repository), *args], env=env, cwd=cwd, input=data,
        capture_output=True, check=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blobs", type=int, default=400)
    parser.add_argument("--kib", type=int, default=256)
    given = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-backup-s3-"))
    figures: dict[str, Any] = {"blobs": given.blobs, "blob_kib": given.kib}
    with seaweedfs(work / "weed") as cluster:
        root = work / "node"
        root.mkdir()
        lines = [f'{k} = "{v}"' for k, v in cluster.settings("bench").items()]
        (root / "hameau.toml").write_text("[node]\n" + "\n".join(lines) + "\n")
        node = init_node(load_settings(root, {}), "Bench")
        local = work / "local"  # the same blobs in a folder, for plain restic
        extra = max(1, given.blobs // 100)

        def add(count: int) -> None:
            for _ in range(count):
                data = os.urandom(given.kib << 10)
                digest = node.blobs.put(data)
                (local / digest[:2]).mkdir(parents=True, exist_ok=True)
                (local / digest[:2] / digest).write_bytes(data)

        add(given.blobs)
        target, theirs = work / "usb" / "hameau", work / "plain"
        target.parent.mkdir()
        plain(theirs, "init")
        figures["node_first"] = measured(lambda: service.back_up(node, str(target)))
        figures["restic_first"] = measured(lambda: plain(theirs, "backup", ".", cwd=local))
        add(extra)
        figures["node_second"] = measured(lambda: service.back_up(node, str(target)))
        figures["restic_second"] = measured(lambda: plain(theirs, "backup", ".", cwd=local))
        password = key.key_file(node.layout).read_text().strip()
        node.close()
        fresh = "s3://" + cluster.settings("bench")["blob_store"][5:] + "-restored"
        figures["node_restore"] = measured(
            lambda: restore.restore(str(target), work / "new", Sheet(password), blobs=fresh)
        )
        figures["restic_restore"] = measured(
            lambda: plain(theirs, "restore", "latest", "--target", str(work / "out"))
        )
        some = sorted(local.glob("*/*"))[:10]
        each = [measured(lambda p=p: plain(theirs, "backup", "--stdin", "--stdin-filename",
                                           p.name, data=p.read_bytes())) for p in some]  # fmt: skip
        figures["stdin_per_blob"] = [statistics.median(w for w, _ in each),
                                     statistics.median(c for _, c in each)]  # fmt: skip
        figures["stdin_all_estimate"] = [round(x * (given.blobs + extra), 1)
                                         for x in figures["stdin_per_blob"]]  # fmt: skip
    figures["load_average"] = os.getloadavg()[0]
    figures["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

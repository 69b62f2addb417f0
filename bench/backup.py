"""Backup and restore of 1 GiB through the node's backup (`hameau backup`, to a folder target)
beside plain `restic backup` / `restic restore` of the same data dir to a local folder, in the
same run: a first backup, a second after 1 % of the content changed, a restore.

The node holds one member's files of distinct random content (incompressible, as photos
are); every step runs as a user runs it (a new process), timed by its wall clock. The node's
backup does more than restic alone: a consistent database snapshot first, retention after
(`restic forget --prune`, also timed for plain restic), and for the restore, the database put in place, checked and opened.

Prints one JSON line.   .venv/bin/python bench/backup.py [--mib 1024] [--file-mib 4] [--plain-first]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

from hameau.accounts import members
from hameau.files import service as files
from hameau.node.db import transaction
from tests.helpers import add_member, make_node

RESTIC = "/usr/bin/restic"


def _store(node, count: int, size: int) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    written = []
    for _ in range(count):
        writer = node.blobs.writer()
        writer.write(os.urandom(size))
        writer.commit()
        written.append((writer.digest, size))
    return written


def _record(node, written: list[tuple[str, int]], prefix: str) -> None:  # type: ignore[no-untyped-def]
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        members.set_quota(member, 1 << 22)
        where = files.space(member, "mine")
        folder = files.make_folder(session, member, where, [prefix])
        for number, (digest, size) in enumerate(written):
            plan = files.WritePlan(where, folder.id, f"{prefix}-{number:05}.bin", 1 << 42)
            files.record_write(session, plan, member, digest, size)


def build(root: Path, mib: int, file_mib: int) -> None:
    node = make_node(root)
    add_member(node, "alex")
    _record(node, _store(node, mib // file_mib, file_mib << 20), "photo")
    node.close()


def change_one_percent(root: Path, mib: int, file_mib: int) -> None:
    from hameau.config import load_settings
    from hameau.node.datadir import open_node

    node = open_node(load_settings(root))
    count = max(1, round(mib / 100 / file_mib))
    _record(node, _store(node, count, file_mib << 20), "new")
    node.close()


def timed(*command: str | Path) -> float:
    start = time.monotonic()
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed: {done.stderr}")
    return time.monotonic() - start


def hameau(*args: str | Path) -> list[str | Path]:
    return [sys.executable, "-m", "hameau", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--file-mib", type=int, default=4)
    # Each pair's second run may find more in the page cache: run with and without.
    parser.add_argument("--plain-first", action="store_true", help="plain restic first")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=str(ROOT)) as folder:
        base = Path(folder)
        node, ours, plain = base / "node", base / "usb-node", base / "usb-plain"
        build(node, options.mib, options.file_mib)
        password = base / "password"
        password.write_text("bench\n")
        restic = [RESTIC, "-r", plain, "--password-file", password, "--cache-dir", base / "cache"]
        timed(*hameau("backup", "setup", ours, "--data-dir", node))
        timed(*restic, "init")
        figures: dict[str, float] = {"mib": options.mib, "plain_ran_first": options.plain_first}
        now = hameau("backup", "now", "--data-dir", node)

        def pair(
            step: str, ours_command: list[str | Path], plain_command: list[str | Path]
        ) -> None:
            steps = [("node", ours_command), ("plain", plain_command)]
            for who, command in reversed(steps) if options.plain_first else steps:
                figures[f"{who}_{step}_s"] = timed(*command)

        pair("first", now, [*restic, "backup", node])
        change_one_percent(node, options.mib, options.file_mib)
        pair("second", now, [*restic, "backup", node])
        # The node's run ends with retention; plain restic's same step, timed apart.
        figures["plain_forget_s"] = timed(*restic, "forget", "--prune", "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6")  # fmt: skip
        sheet = base / "sheet.txt"
        sheet.write_text(subprocess.run(hameau("backup", "sheet", "--show-again", "--data-dir", node), capture_output=True, text=True, check=True).stdout)  # fmt: skip
        restore = hameau("backup", "restore", "--from", ours, "--data-dir", base / "restored-node", "--sheet", sheet)  # fmt: skip
        pair(
            "restore", restore, [*restic, "restore", "latest", "--target", base / "restored-plain"]
        )
        for step in ("first", "second", "restore"):
            figures[f"{step}_ratio"] = figures[f"node_{step}_s"] / figures[f"plain_{step}_s"]
        with_forget = figures["plain_second_s"] + figures["plain_forget_s"]
        figures["second_with_retention_ratio"] = figures["node_second_s"] / with_forget
        print(json.dumps({name: round(value, 2) for name, value in figures.items()}))


if __name__ == "__main__":
    main()

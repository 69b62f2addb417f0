"""`hameau check` on a node of 10,000 files: the database, every content hashed, the journal.

The node is built in the repository's folder (the same disk as a node would use), each file a
distinct random content; the check runs as a user runs it (`hameau check`, a new process), the
files' content still in the page cache from being written.

Prints one JSON line.   .venv/bin/python bench/check.py [--files 10000] [--size-kb 16]
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


def build(root: Path, count: int, size: int) -> None:
    node = make_node(root)
    add_member(node, "alex")
    writers = []
    for _ in range(count):
        writer = node.blobs.writer()
        writer.write(os.urandom(size))
        writer.commit(later=True)
        writers.append(writer)
    node.blobs.settle(writers)  # made durable together, as a satellite's sync does
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        where = files.space(member, "mine")
        members.set_quota(member, count * size * 2)
        folders = [files.make_folder(session, member, where, [f"f{n:02}"]) for n in range(100)]
        for number, writer in enumerate(writers):
            assert writer.digest is not None
            plan = files.WritePlan(
                where, folders[number % 100].id, f"file-{number:05}.bin", 1 << 40
            )
            files.record_write(session, plan, member, writer.digest, size)
    node.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--size-kb", type=int, default=16)
    options = parser.parse_args()
    size = options.size_kb * 1024
    with tempfile.TemporaryDirectory(dir=str(ROOT)) as folder:
        root = Path(folder) / "node"
        build(root, options.files, size)
        command = [sys.executable, "-m", "hameau", "check", "--data-dir", str(root)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"hameau check failed:\n{done.stdout}{done.stderr}")
    print(
        json.dumps(
            {
                "bench": "check",
                "files": options.files,
                "bytes": options.files * size,
                "check_seconds": round(seconds, 2),
                "files_per_s": round(options.files / seconds),
                "report": done.stdout.strip().splitlines()[-2],
            }
        )
    )


if __name__ == "__main__":
    main()

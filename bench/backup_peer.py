"""Backups at a neighbour's: restic's backup and restore of 1 GiB through a paired peer (two
`hameau serve --tls` nodes on loopback: B offers A space; A's loopback proxy signs each of
restic's requests, B checks it, verifies each object's hash and stores it durably) beside
plain restic to a local folder, same data, same run. The data is incompressible (random
bytes, in files of 16 MiB), so restic's compression changes nothing on either side. Prints
one JSON line.

    .venv/bin/python bench/backup_peer.py [--mib 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import ROOT  # noqa: F401  (puts the repository on the path)

from hameau.backup.peer_target import PeerTarget
from hameau.config import Settings
from hameau.node.datadir import open_node
from tests.e2e.hamlet_nodes import hamlet

RESTIC = shutil.which("restic") or "restic"


def restic(url: str, env: dict[str, str], *args: str) -> float:
    """Seconds one restic command took; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run([RESTIC, "-r", url, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"restic {args[0]} failed: {done.stderr.strip()[-500:]}")
    return round(seconds, 2)


def data(folder: Path, mib: int) -> Path:
    folder.mkdir()
    for number in range(mib // 16):
        (folder / f"part-{number:03}.bin").write_bytes(os.urandom(16 << 20))
    return folder


def run(url: str, env: dict[str, str], source: Path, out: Path) -> dict[str, float]:
    restic(url, env, "init")
    backup = restic(url, env, "backup", str(source))
    restore = restic(url, env, "restore", "latest", "--target", str(out))
    shutil.rmtree(out)
    return {"backup_s": backup, "restore_s": restore}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    mib = parser.parse_args().mib
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as where:
        root = Path(where)
        source = data(root / "source", mib)
        (root / "password").write_text("bench\n")
        env = {**os.environ, "RESTIC_PASSWORD_FILE": str(root / "password")}
        local = run(str(root / "local-repo"), {**env, "RESTIC_CACHE_DIR": str(root / "c1")},
                    source, root / "out")  # fmt: skip
        shutil.rmtree(root / "local-repo")
        with hamlet(root, names=("A", "B"), pairs=(("B", "A"),)) as homes:
            offered = homes["B"].run("backup", "offer", "A", "--quota", f"{2 * mib}M")
            assert offered.returncode == 0, offered.stderr
            node = open_node(Settings(data_dir=homes["A"].data_dir), upgrade=False)
            with PeerTarget(node, "B").open() as repository:
                peer = run(repository.url, {**env, "RESTIC_CACHE_DIR": str(root / "c2")},
                           source, root / "out")  # fmt: skip
            node.close()
    figures = {
        "bench": "backup_peer", "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "mib": mib, "restic_version": subprocess.run(
            [RESTIC, "version"], capture_output=True, text=True).stdout.split()[1],
        "local": local, "peer": peer,
        "backup_ratio": round(peer["backup_s"] / local["backup_s"], 2),
        "restore_ratio": round(peer["restore_s"] / local["restore_s"], 2),
    }  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

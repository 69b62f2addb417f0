"""Upload and download MB/s of one file through the node's web API (curl), with its content
on the local disk and on a SeaweedFS cluster (three volume servers, two copies of every
object) started here; beside them, the same file sent straight to that cluster by peer tools:
rclone through the S3 gateway, and `weed upload` to the volume servers. Prints one JSON line.

    .venv/bin/python bench/s3.py [--mb 64] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repository on the path)

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import serve
from tests.helpers import add_member, make_node
from tests.seaweed import ACCESS_KEY, BUCKET, SECRET_KEY, Cluster, seaweedfs


def timed(command: list[str]) -> float:
    # rclone 1.60's AWS SDK fails on an AWS_CA_BUNDLE with its transport (plain HTTP here)
    env = {name: value for name, value in os.environ.items() if name != "AWS_CA_BUNDLE"}
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def node_figures(root: Path, big: Path, runs: int, options: dict[str, str]) -> dict[str, float]:
    node = make_node(root, **options)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "bench")[1]
    node.close()
    lines = [f'{name} = "{value}"' for name, value in options.items() if name != "s3_secret_key"]
    (root / "hameau.toml").write_text("[node]\n" + "\n".join(lines) + "\n")
    ups, downs = [], []
    with serve(root, env={"HAMEAU_S3_SECRET_KEY": SECRET_KEY}) as served:
        auth = ["-u", f"alex:{secret}", "-sf", "-o", "/dev/null"]
        for run in range(runs):
            url = f"{served.url}/api/files/mine/big{run}.bin"
            ups.append(timed(["curl", *auth, "-T", str(big), url]))
            downs.append(timed(["curl", *auth, url]))
    return {"upload": statistics.median(ups), "download": statistics.median(downs)}


def peer_figures(cluster: Cluster, big: Path, runs: int) -> dict[str, float]:
    remote = [
        "--config", "/dev/null", "--s3-provider", "SeaweedFS", "--s3-endpoint", cluster.endpoint,
        "--s3-access-key-id", ACCESS_KEY, "--s3-secret-access-key", SECRET_KEY,
    ]  # fmt: skip
    rclone = [
        timed(["rclone", "copyto", str(big), f":s3:{BUCKET}/peer/big{run}.bin", *remote])
        for run in range(runs)
    ]
    master = f"-master=127.0.0.1:{cluster.master_port}"
    weed = [timed([cluster.weed, "upload", master, str(big)]) for _run in range(runs)]
    return {"rclone_s3": statistics.median(rclone), "weed_upload": statistics.median(weed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    result: dict[str, Any] = {"bench": "s3", "mb": options.mb, "runs": options.runs}
    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "big.bin"
        big.write_bytes(os.urandom(options.mb << 20))
        with seaweedfs(Path(folder) / "seaweedfs") as cluster:
            stores = {"local": {}, "s3": cluster.settings("bench")}
            for name, settings in stores.items():
                found = node_figures(Path(folder) / name / "node", big, options.runs, settings)
                for what, seconds in found.items():
                    result[f"node_{name}_{what}_mb_s"] = round(options.mb / seconds, 1)
            for what, seconds in peer_figures(cluster, big, options.runs).items():
                result[f"{what}_mb_s"] = round(options.mb / seconds, 1)
    result["load_average"] = [round(value, 2) for value in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

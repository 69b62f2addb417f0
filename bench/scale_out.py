"""Several processes, one node (issue 17): requests/s of a member's home page and upload MB/s
through the front shipped in deploy/ (--proxy: haproxy, the default and the one docs/scale.md
recommends, or caddy) in front of 1, 2 and 4 `hameau serve` processes on PostgreSQL +
SeaweedFS (three volume servers, two copies), beside one process on SQLite + the local disk
behind the same front; and, as the peer, the front and uvicorn alone (/healthz).

- Home page: `wrk` (--connections, two threads, --seconds) with a logged-in member's cookie,
  after a warm-up; the CPU seconds the node's processes, the front and PostgreSQL used per
  request (from /proc): what a machine with more cores can divide its work by.
- Uploads: --uploads files of --mb MiB sent at once with curl through the front to the files
  API.

Prints one JSON line.
    .venv/bin/python bench/scale_out.py [--processes 1,2,4] [--seconds 10] [--proxy caddy]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repository on the path)
import httpx
from common import read_process

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests import pg
from tests.e2e.balanced import PROXIES, Balanced, balanced
from tests.e2e.served import login_cookie
from tests.helpers import PASSWORD, add_member, make_node
from tests.seaweed import SECRET_KEY, seaweedfs

ENV = {"HAMEAU_S3_SECRET_KEY": SECRET_KEY}


def prepare(root: Path, settings: dict[str, str]) -> str:
    """A node with one member, its settings in hameau.toml; alex's app password."""
    node = make_node(root, **settings)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "bench")[1]
    node.close()
    lines = [f'{key} = "{value}"' for key, value in settings.items() if key != "s3_secret_key"]
    lines.append('forwarded_allow_ips = "127.0.0.1"')
    (root / "hameau.toml").write_text("[node]\n" + "\n".join(lines) + "\n")
    return secret


def wrk(url: str, seconds: int, connections: int, cookie: str = "") -> dict[str, float]:
    header = ["-H", f"Cookie: hameau_session={cookie}"] if cookie else []
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", *header, url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"requests": done, "rate": rate, "errors": int(bad.group(1)) if bad else 0}


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a backend that ended
            total += read_process(pid).cpu_seconds
    return total


def postgres_pids(cluster: pg.Cluster | None) -> list[int]:
    if cluster is None:
        return []
    master = int((cluster.root / "data" / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                children.append(int(stat.parent.name))
        except (FileNotFoundError, ValueError, IndexError):
            pass
    return [master, *children]


def uploads(url: str, secret: str, big: Path, count: int, mb: int, run: str) -> float:
    """MB/s of ``count`` uploads of ``big`` sent at once."""
    started = time.perf_counter()
    sending = [
        subprocess.Popen(["curl", "-sf", "-o", "/dev/null", "-u", f"alex:{secret}", "-T", str(big),
                          f"{url}/api/files/mine/{run}-{number}.bin"])
        for number in range(count)
    ]  # fmt: skip
    if any(process.wait() for process in sending):
        raise RuntimeError("an upload failed")
    return round(count * mb / (time.perf_counter() - started), 1)


def figures(
    served: Balanced, secret: str, options: Any, big: Path, cluster: pg.Cluster | None, run: str
) -> dict[str, float]:
    cookie = login_cookie(served.url, "alex", PASSWORD)
    home_page = httpx.get(served.url + "/", cookies={"hameau_session": cookie})
    if home_page.status_code != 200 or "alex" not in home_page.text.lower():
        raise RuntimeError(f"the home page is not the member's: {home_page.status_code}")
    wrk(served.url + "/", 2, options.connections, cookie)  # warm-up: routers, pools, caches
    pids = [process.process.pid for process in served.processes]
    others = [served.proxy.process.pid, *postgres_pids(cluster)]
    before = cpu_of(pids), cpu_of(others)
    home = wrk(served.url + "/", options.seconds, options.connections, cookie)
    after = cpu_of(pids), cpu_of(others)
    per_request = [
        (b - a) * 1000 / max(1, home["requests"]) for a, b in zip(before, after, strict=True)
    ]
    return {
        "home_rps": home["rate"],
        "home_errors": home["errors"],
        "home_cpu_ms_node": round(per_request[0], 2),
        "home_cpu_ms_proxy_pg": round(per_request[1], 2),
        "upload_mb_s": uploads(served.url, secret, big, options.uploads, options.mb, run),
        "healthz_rps": wrk(served.url + "/healthz", options.seconds, options.connections)["rate"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--uploads", type=int, default=4)
    parser.add_argument("--mb", type=int, default=16)
    parser.add_argument("--proxy", choices=PROXIES, default="haproxy")
    options = parser.parse_args()
    counts = [int(count) for count in options.processes.split(",")]
    result: dict[str, Any] = {"bench": "scale_out", "cores": os.cpu_count(), **vars(options)}
    with tempfile.TemporaryDirectory() as folder, pg.cluster() as cluster:
        big = Path(folder) / "big.bin"
        big.write_bytes(os.urandom(options.mb << 20))
        secret = prepare(Path(folder) / "sqlite" / "node", {})
        with balanced(Path(folder) / "sqlite" / "node", 1, proxy=options.proxy) as served:
            result["sqlite_local_1"] = figures(served, secret, options, big, None, "sqlite")
        with seaweedfs(Path(folder) / "seaweedfs") as store:
            root = Path(folder) / "shared" / "node"
            secret = prepare(root, {"database_url": cluster.new_database(), **store.settings("b")})
            for count in counts:
                with balanced(root, count, env=ENV, proxy=options.proxy) as served:
                    found = figures(served, secret, options, big, cluster, f"p{count}")
                    result[f"postgres_s3_{count}"] = found
    result["load_average"] = [round(value, 2) for value in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

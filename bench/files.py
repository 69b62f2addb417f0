"""File transfer and listing through the node, beside plain tools on the same disk, in one run.

- 1 GiB upload and download through the web API (curl) and through WebDAV (rclone), each
  beside `cp` of the same file on the same disk (and `cp` followed by an fsync, or by
  `sync`, since the node fsyncs every blob before recording it).
- PROPFIND Depth: 1 of a folder of 10,000 files, beside a stock WsgiDAV FilesystemProvider
  serving the same tree through the same server code.
- The cost of durability: small-file writes per second through the store (4 KiB each:
  blob fsynced, renamed, folder fsynced, recorded in one transaction), with SQLite's
  `synchronous=NORMAL` (survives a kill -9, may lose the last commits on a power cut) and
  `FULL` (the node's setting: survives a power cut), interleaved in the same run.

Each door is warmed by one small upload first; `cp` and the transfers run `--rounds` times in
turn (medians, each round's figures, the load and a SHA-256 gauge of the machine's CPU).

Prints one JSON line.   .venv/bin/python bench/files.py [--size-mb 1024] [--files 10000] [--rounds 3]
                        .venv/bin/python bench/files.py --durability-only [--small-files 300]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Running, process, read_process

from hameau.accounts import members, tokens
from hameau.config import Settings
from hameau.files import service as files
from hameau.node.datadir import open_node
from hameau.node.db import make_engine, make_sessionmaker, transaction
from tests.helpers import add_member, make_node

PROPFIND_BODY = b'<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>'


def timed(command: list[str], server: int | None = None, cpu: dict[str, float] | None = None,
          name: str = "") -> float:  # fmt: skip
    """Seconds the command took; with ``server``, its CPU seconds meanwhile go in ``cpu``."""
    before = read_process(server).cpu_seconds if server else 0.0
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    took = time.perf_counter() - started
    if server and cpu is not None:
        cpu[name] = read_process(server).cpu_seconds - before
    return took


def throughput(size: int, seconds: float) -> float:
    return round(size / seconds / 1e6, 1)  # MB/s


def fsync_copy(source: Path, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    descriptor = os.open(target, os.O_RDONLY)
    os.fsync(descriptor)
    os.close(descriptor)
    return time.perf_counter() - started


def propfind_seconds(url: str, auth: list[str], rounds: int = 5) -> float:
    command = ["curl", "-sf", "-o", "/dev/null", "-X", "PROPFIND", "-H", "Depth: 1",
               "-H", "Content-Type: application/xml", "--data-binary", PROPFIND_BODY.decode(), *auth, url]  # fmt: skip
    timed(command)  # warm
    return statistics.median(timed(command) for _ in range(rounds))


STOCK_DAV = """
import sys
from a2wsgi import WSGIMiddleware
from wsgidav.fs_dav_provider import FilesystemProvider
from wsgidav.wsgidav_app import WsgiDAVApp
from hameau.node.serve import listen_on, serve
root, port = sys.argv[1], int(sys.argv[sys.argv.index("--port") + 1])
app = WsgiDAVApp({"provider_mapping": {"/": FilesystemProvider(root)}, "simple_dc": {"user_mapping": {"*": True}},
                  "http_authenticator": {"accept_digest": False, "default_to_digest": False},
                  "verbose": 1, "logging": {"enable": False}, "dir_browser": {"enable": False},
                  "property_manager": None, "lock_storage": True})
async def healthz_or_dav(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/healthz":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await dav(scope, receive, send)
dav = WSGIMiddleware(app, workers=4)
serve(healthz_or_dav, listen_on("127.0.0.1", port))
"""


def small_writes_per_second(root: Path, synchronous: str, count: int, round_: int) -> float:
    """Writes of ``count`` new 4 KiB files, as every door does them, per second."""
    node = open_node(Settings(data_dir=root))
    node.engine.dispose()
    node.engine = make_engine(node.layout.database_url, synchronous)
    node.sessions = make_sessionmaker(node.engine)
    started = time.perf_counter()
    for number in range(count):
        with transaction(node.sessions) as session:
            member = members.find_member(session, "alex")
            plan = files.plan_write(
                session,
                member,
                files.space(member, "mine"),
                [f"small-{synchronous}-{round_}-{number}"],
            )
        with node.blobs.writer() as writer:
            writer.write(os.urandom(4096))
            digest = writer.commit()
        with transaction(node.sessions) as session:
            member = members.find_member(session, "alex")
            files.record_write(session, plan, member, digest, 4096, "application/octet-stream")
    seconds = time.perf_counter() - started
    node.close()
    return count / seconds


def durability(work: Path, count: int, rounds: int = 3) -> dict[str, float]:
    """NORMAL against FULL on one node, interleaved, the median of each."""
    node = make_node(work / "durability")
    add_member(node, "alex")
    node.close()
    runs: dict[str, list[float]] = {"NORMAL": [], "FULL": []}
    for round_ in range(rounds):
        for synchronous in runs:
            runs[synchronous].append(
                small_writes_per_second(work / "durability", synchronous, count, round_)
            )
    normal, full = (statistics.median(runs[name]) for name in ("NORMAL", "FULL"))
    return {
        "small_writes_per_s_normal": round(normal, 1),
        "small_writes_per_s_full": round(full, 1),
        "full_vs_normal": round(full / normal, 2),
        "small_files_per_round": count,
        "rounds": rounds,
    }


def copies(big: Path, work: Path) -> dict[str, float]:
    """Seconds `cp` takes for ``big`` on the same disk, alone, then with an fsync of the copy,
    then followed by `sync` (the same durability, as a user would get it from a shell)."""
    copy = work / "copy.bin"
    seconds = {"cp": timed(["cp", str(big), str(copy)])}
    os.unlink(copy)
    seconds["cp_fsync"] = fsync_copy(big, copy)
    os.unlink(copy)
    seconds["cp_sync"] = timed(["sh", "-c", f'cp "{big}" "{copy}" && sync'])
    os.unlink(copy)
    return seconds


def sha256_cpu(big: Path) -> float:
    """CPU seconds SHA-256 takes over ``big`` here and now (1 MiB reads): how much of a
    core the machine gives at this moment, beside which the server's CPU figures are read."""
    digest, started = hashlib.sha256(), time.process_time()
    with big.open("rb", buffering=0) as source:
        while piece := source.read(1 << 20):
            digest.update(piece)
    return time.process_time() - started


class Doors:
    """The transfers through the served node's two doors, each timed with its server CPU."""

    def __init__(self, served: Running, secret: str, work: Path) -> None:
        self.url, self.pid, self.work = served.url, served.pid, work
        self.bearer = ["-H", f"Authorization: Bearer {secret}"]
        obscured = subprocess.run(
            ["rclone", "obscure", secret], capture_output=True, text=True, check=True
        ).stdout.strip()
        self.remote = ["--webdav-url", f"{served.url}/dav/files", "--webdav-user", "alex",
                       "--webdav-pass", obscured, "--config", "/dev/null", "--no-check-dest"]  # fmt: skip

    def warm(self, small: Path) -> None:
        """One small upload through each door, untimed: the first request of a server loads
        the files part (0.3 s of CPU here), and curl, whose uploads ask `Expect: 100-continue`,
        waits up to a second for the answer before sending the body anyway."""
        self.api_upload(small, "warm.bin", {}, "warm")
        self.dav_upload(small, "warm-dav.bin", {}, "warm")

    def api_upload(self, big: Path, name: str, cpu: dict[str, float], key: str) -> float:
        return timed(["curl", "-sf", "-o", "/dev/null", "-T", str(big), *self.bearer,
                      f"{self.url}/api/files/mine/{name}"], self.pid, cpu, key)  # fmt: skip

    def api_download(self, name: str, cpu: dict[str, float], key: str) -> float:
        down = self.work / "down.bin"
        took = timed(["curl", "-sf", "-o", str(down), *self.bearer,
                      f"{self.url}/api/files/mine/{name}"], self.pid, cpu, key)  # fmt: skip
        os.unlink(down)
        return took

    def dav_upload(self, big: Path, name: str, cpu: dict[str, float], key: str) -> float:
        return timed(["rclone", "copyto", str(big), f":webdav:mine/{name}", *self.remote],
                     self.pid, cpu, key)  # fmt: skip

    def dav_download(self, name: str, cpu: dict[str, float], key: str) -> float:
        down = self.work / "down.bin"
        took = timed(["rclone", "copyto", f":webdav:mine/{name}", str(down), *self.remote],
                     self.pid, cpu, key)  # fmt: skip
        os.unlink(down)
        return took

    def round_(self, big: Path, number: int, cpu: dict[str, float]) -> dict[str, float]:
        """Seconds of each transfer of ``big``, in one round; CPU seconds in ``cpu``."""
        api, dav = f"big-{number}.bin", f"big-dav-{number}.bin"
        return {
            "api_upload": self.api_upload(big, api, cpu, "api_upload"),
            "api_download": self.api_download(api, cpu, "api_download"),
            "webdav_upload": self.dav_upload(big, dav, cpu, "webdav_upload"),
            "webdav_download": self.dav_download(dav, cpu, "webdav_download"),
        }


TRANSFERS = ("api_upload", "api_download", "webdav_upload", "webdav_download")


def prepare(work: Path, options: argparse.Namespace) -> tuple[Path, Path, str]:
    """The big file, a node with a member and a folder of ``options.files`` files, and the
    same files in a plain tree: (the big file, the tree, the member's API token)."""
    big = work / "big.bin"
    with big.open("wb") as handle:
        for _ in range(options.size_mb):
            handle.write(os.urandom(1024 * 1024))
    node = make_node(work / "node")
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        members.set_quota(member, options.size_mb * 4 * (options.rounds + 1))
        secret = tokens.create_token(session, member, "bench")[1]
        many = files.make_folder(session, member, files.space(member, "mine"), ["many"])
        digest = node.blobs.put(b"small file\n")
        for number in range(options.files):
            plan = files.WritePlan(
                files.space(member, "mine"), many.id, f"file-{number:05}.txt", 1 << 40
            )
            files.record_write(session, plan, member, digest, 11, "text/plain")
    node.close()
    tree = work / "tree"
    tree.mkdir()
    for number in range(options.files):
        (tree / f"file-{number:05}.txt").write_bytes(b"small file\n")
    (work / "small.bin").write_bytes(b"warm\n" * 100)
    return big, tree, secret


def transfers(work: Path, big: Path, secret: str, rounds: int) -> tuple[list[dict], float]:  # type: ignore[type-arg]
    """``rounds`` rounds of `cp` and of each transfer, one after the other, each with its
    SHA-256 gauge and the server's CPU; and PROPFIND's median seconds."""
    os.sync()  # the source written out first, or the first `cp` pays for its writeback
    runs = []
    command = [sys.executable, "-m", "hameau", "serve", "--data-dir", str(work / "node")]
    with process(command) as served:
        doors = Doors(served, secret, work)
        doors.warm(work / "small.bin")
        for number in range(rounds):
            cpu: dict[str, float] = {}
            run: dict[str, float] = {"load": os.getloadavg()[0], "sha256_cpu": sha256_cpu(big)}
            run.update(copies(big, work))
            run.update(doors.round_(big, number, cpu))
            run.update({f"{name}_cpu": cpu[name] for name in TRANSFERS})
            runs.append(run)
        ours = propfind_seconds(f"{served.url}/dav/files/mine/many/", ["-u", f"alex:{secret}"])
    return runs, ours


def summary(runs: list[dict], size: int) -> dict[str, object]:  # type: ignore[type-arg]
    """Medians over the rounds (each figure its own median), ratios of those medians, and
    each round's figures."""
    gib = (1 << 30) / size

    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    result: dict[str, object] = {
        "transfer_rounds": len(runs),
        "load": [round(run["load"], 1) for run in runs],
        "sha256_cpu_s_per_gib": round(median("sha256_cpu") * gib, 2),
    }
    for name in ("cp", "cp_fsync", "cp_sync", *TRANSFERS):
        result[f"{name}_mb_s"] = throughput(size, median(name))
        result[f"{name}_mb_s_each"] = [throughput(size, run[name]) for run in runs]
    for name in TRANSFERS:
        result[f"{name}_server_cpu_s_per_gib"] = round(median(f"{name}_cpu") * gib, 2)
        result[f"{name}_server_cpu_s_per_gib_each"] = [round(run[f"{name}_cpu"] * gib, 2) for run in runs]  # fmt: skip
        result[f"{name}_vs_cp"] = round(median("cp") / median(name), 2)
    for name in ("api_upload", "webdav_upload"):
        result[f"{name}_vs_cp_fsync"] = round(median("cp_fsync") / median(name), 2)
        result[f"{name}_vs_cp_sync"] = round(median("cp_sync") / median(name), 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--small-files", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--durability-only", action="store_true")
    options = parser.parse_args()
    if options.durability_only:
        with tempfile.TemporaryDirectory(dir=str(ROOT)) as folder:
            figures = durability(Path(folder), options.small_files)
        print(json.dumps({"bench": "files-durability", **figures}))
        return
    size = options.size_mb * 1024 * 1024
    result: dict[str, object] = {"bench": "files", "size_bytes": size, "listing_files": options.files}  # fmt: skip
    # In the repository: the same disk as a node in it.
    with tempfile.TemporaryDirectory(dir=str(ROOT)) as folder:
        work = Path(folder)
        big, tree, secret = prepare(work, options)
        runs, ours = transfers(work, big, secret, options.rounds)
        stock_script = work / "stock_dav.py"
        stock_script.write_text(STOCK_DAV)
        with process([sys.executable, str(stock_script), str(tree)]) as stock:
            theirs = propfind_seconds(f"{stock.url}/", [])
    result.update(summary(runs, size))
    result["propfind_10k_ms"] = round(ours * 1000, 1)
    result["propfind_10k_stock_wsgidav_ms"] = round(theirs * 1000, 1)
    result["propfind_ratio_vs_stock"] = round(ours / theirs, 2)
    with tempfile.TemporaryDirectory(dir=str(ROOT)) as folder:
        result.update(durability(Path(folder), options.small_files))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

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

Prints one JSON line.   .venv/bin/python bench/files.py [--size-mb 1024] [--files 10000]
                        .venv/bin/python bench/files.py --durability-only [--small-files 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, process, read_process

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--small-files", type=int, default=300)
    parser.add_argument("--durability-only", action="store_true")
    options = parser.parse_args()
    if options.durability_only:
        with tempfile.TemporaryDirectory(dir=str(ROOT)) as folder:
            figures = durability(Path(folder), options.small_files)
        print(json.dumps({"bench": "files-durability", **figures}))
        return
    size = options.size_mb * 1024 * 1024
    result: dict[str, object] = {
        "bench": "files",
        "size_bytes": size,
        "listing_files": options.files,
    }
    with tempfile.TemporaryDirectory(
        dir=str(ROOT)
    ) as folder:  # the same disk as a node in the repo
        work = Path(folder)
        big = work / "big.bin"
        with big.open("wb") as handle:
            for _ in range(options.size_mb):
                handle.write(os.urandom(1024 * 1024))
        node = make_node(work / "node")
        add_member(node, "alex")
        with transaction(node.sessions) as session:
            member = members.find_member(session, "alex")
            members.set_quota(member, options.size_mb * 8)
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

        os.sync()  # the source written out first, or the first `cp` pays for its writeback
        copy_seconds = timed(["cp", str(big), str(work / "copy.bin")])
        os.unlink(work / "copy.bin")
        synced_seconds = fsync_copy(big, work / "copy.bin")
        os.unlink(work / "copy.bin")
        # `cp` then `sync`: the same durability, as a user would get it from a shell.
        sync_seconds = timed(["sh", "-c", f'cp "{big}" "{work / "copy.bin"}" && sync'])
        os.unlink(work / "copy.bin")
        result["cp_mb_s"] = throughput(size, copy_seconds)
        result["cp_fsync_mb_s"] = throughput(size, synced_seconds)
        result["cp_sync_mb_s"] = throughput(size, sync_seconds)

        command = [sys.executable, "-m", "hameau", "serve", "--data-dir", str(work / "node")]
        cpu: dict[str, float] = {}  # the server's CPU seconds during each transfer
        with process(command) as served:
            bearer = ["-H", f"Authorization: Bearer {secret}"]
            node = (served.pid, cpu)
            upload = timed(
                [
                    "curl",
                    "-sf",
                    "-o",
                    "/dev/null",
                    "-T",
                    str(big),
                    *bearer,
                    f"{served.url}/api/files/mine/big.bin",
                ],
                *node, "api_upload",
            )  # fmt: skip
            download = timed(
                [
                    "curl",
                    "-sf",
                    "-o",
                    str(work / "down.bin"),
                    *bearer,
                    f"{served.url}/api/files/mine/big.bin",
                ],
                *node, "api_download",
            )  # fmt: skip
            os.unlink(work / "down.bin")
            obscured = subprocess.run(
                ["rclone", "obscure", secret], capture_output=True, text=True, check=True
            ).stdout.strip()
            remote = ["--webdav-url", f"{served.url}/dav/files", "--webdav-user", "alex", "--webdav-pass", obscured,
                      "--config", "/dev/null", "--no-check-dest"]  # fmt: skip
            dav_upload = timed(["rclone", "copyto", str(big), ":webdav:mine/big-dav.bin", *remote],
                               *node, "webdav_upload")  # fmt: skip
            dav_download = timed(
                ["rclone", "copyto", ":webdav:mine/big-dav.bin", str(work / "down.bin"), *remote],
                *node, "webdav_download",
            )  # fmt: skip
            os.unlink(work / "down.bin")
            ours = propfind_seconds(f"{served.url}/dav/files/mine/many/", ["-u", f"alex:{secret}"])
        stock_script = work / "stock_dav.py"
        stock_script.write_text(STOCK_DAV)
        with process([sys.executable, str(stock_script), str(tree)]) as stock:
            theirs = propfind_seconds(f"{stock.url}/", [])

    result["api_upload_mb_s"] = throughput(size, upload)
    result["api_download_mb_s"] = throughput(size, download)
    result["webdav_upload_mb_s"] = throughput(size, dav_upload)
    result["webdav_download_mb_s"] = throughput(size, dav_download)
    for name in ("api_upload", "api_download", "webdav_upload", "webdav_download"):
        result[f"{name}_server_cpu_s_per_gib"] = round(cpu[name] * (1 << 30) / size, 2)
        result[f"{name}_vs_cp"] = round(result[f"{name}_mb_s"] / result["cp_mb_s"], 2)  # type: ignore[operator]
    for name in ("api_upload", "webdav_upload"):
        result[f"{name}_vs_cp_fsync"] = round(result[f"{name}_mb_s"] / result["cp_fsync_mb_s"], 2)  # type: ignore[operator]
        result[f"{name}_vs_cp_sync"] = round(result[f"{name}_mb_s"] / result["cp_sync_mb_s"], 2)  # type: ignore[operator]
    result["propfind_10k_ms"] = round(ours * 1000, 1)
    result["propfind_10k_stock_wsgidav_ms"] = round(theirs * 1000, 1)
    result["propfind_ratio_vs_stock"] = round(ours / theirs, 2)
    with tempfile.TemporaryDirectory(dir=str(ROOT)) as folder:
        result.update(durability(Path(folder), options.small_files))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

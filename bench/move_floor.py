"""The floor under a move's stream: the same 1 GiB as bench/moving.py (4 files of 200 MiB and
3,000 of 70 KiB, random bytes) sent as one HTTPS upload to `hameau.node.serve` (uvicorn,
uvloop, the node's TLS reads), whose app hashes (SHA-256) and writes each 4 MiB block into one
file in a worker thread, as a move's receiver does, but with no blob store (no file per
content, no rename, no sync), no signature and no database; beside `rsync -a` of the same
files, in the same run. Prints one JSON line.

    .venv/bin/python bench/move_floor.py [--rounds 2]

What it tells: how much of `rsync -a`'s time the transport, the hashing and the writes
alone take here; the rest of a move's time is the store's work per content and the steps
around the streams (docs/benchmarks.md, "Moving home, round 6").
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import ROOT  # noqa: F401  (puts the repository on the path)


def furnish(source: Path) -> list[Path]:
    for number in range(4):
        with (source / f"big-{number}").open("wb") as out:
            for _ in range(200):
                out.write(os.urandom(1 << 20))
    for number in range(3000):
        name = os.urandom(4).hex()
        folder = source / name[:2] / name[2:4]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}-{number}").write_bytes(os.urandom(70 << 10))
    return sorted(path for path in source.rglob("*") if path.is_file())


def serve(port: int, cert: str, key: str, out: str) -> None:
    from starlette.concurrency import run_in_threadpool

    from hameau.node.blobs.local import LocalBlobStore
    from hameau.node.serve import listen_on
    from hameau.node.serve import serve as serve_app

    def work(block: list[bytes]) -> None:
        digest = hashlib.sha256()
        with open(out, "ab") as written:
            for chunk in block:
                digest.update(chunk)
                written.write(chunk)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        block: list[bytes] = []
        size, pending, more = 0, None, True
        while more:
            message = await receive()
            block.append(message.get("body", b""))
            size += len(block[-1])
            more = message.get("more_body", False)
            if size >= 4 << 20 or not more:
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(run_in_threadpool(work, block))
                block, size = [], 0
        if pending is not None:
            await pending
        if scope.get("query_string") == b"durable":
            await run_in_threadpool(LocalBlobStore.sync_dir, Path(out))  # fsync, a file too
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    serve_app(app, listen_on("127.0.0.1", port), certificate=(cert, key))


def upload(files: list[Path], port: int, cert: str, query: str = "") -> float:
    import httpx

    def body() -> Iterator[bytes]:
        for path in files:
            with path.open("rb") as source:
                while chunk := source.read(4 << 20):
                    yield chunk

    with httpx.Client(verify=ssl.create_default_context(cafile=cert), timeout=300) as client:
        start = time.perf_counter()
        client.post(f"https://127.0.0.1:{port}/{query}", content=body()).raise_for_status()
        return time.perf_counter() - start


def one_round(root: Path, files: list[Path], cert: str, key: str) -> dict[str, float]:
    shutil.rmtree(root / "copy", ignore_errors=True)
    (root / "out").unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(["rsync", "-a", f"{root / 'source'}/", str(root / "copy")], check=True)
    rsync = time.perf_counter() - start
    shutil.rmtree(root / "copy")
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(["rsync", "-a", f"{root / 'source'}/", str(root / "copy")], check=True)
    subprocess.run(["sync"], check=True)
    rsync_synced = time.perf_counter() - start
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), cert, key, str(root / "out")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):  # until it listens
            try:
                sent = upload(files, port, cert)
                break
            except Exception:  # not listening yet
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        (root / "out").unlink()
        subprocess.run(["sync"], check=True)
        durable = upload(files, port, cert, "?durable")
    finally:
        server.terminate()
        server.wait()
    return {
        "rsync_s": round(rsync, 2), "rsync_sync_s": round(rsync_synced, 2),
        "upload_s": round(sent, 2), "ratio": round(sent / rsync, 2),
        "durable_upload_s": round(durable, 2), "durable_ratio": round(durable / rsync, 2),
    }  # fmt: skip


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), *sys.argv[3:6])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    given = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hameau-move-floor-") as folder:
        root = Path(folder)
        (root / "source").mkdir()
        files = furnish(root / "source")
        cert, key = str(root / "cert.pem"), str(root / "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(["sync"], check=True)
        rounds = [one_round(root, files, cert, key) for _ in range(given.rounds)]
    print(json.dumps({"bytes": 4 * (200 << 20) + 3000 * (70 << 10),
                      "files": len(files), "rounds": rounds}))  # fmt: skip


if __name__ == "__main__":
    main()

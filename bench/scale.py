"""Cost independent of the archive's size: the same operations on a node of 10,000 files and
of 100,000, and the ratio; then a 20,000-file folder's page, JSON and PROPFIND, and the
server's memory before and after.

- Fixed-size work (goal ≤ 1.2× from 10k to 100k files): a 2 KB PUT through the API and
  through WebDAV, a 100-file folder's page, its JSON listing and its PROPFIND Depth 1, a
  file moved to the trash. Each the median of --rounds requests on one kept-alive
  connection to a real `hameau serve`.
- Whole-archive work (goal ≤ 10×, the archive being 10× larger): the admins' space page
  and `hameau check` (every row, the journal, the quota counters; content is shared, so
  hashing is not what grows).
- Memory (--memory): a folder of 20,000 files; the server's resident memory when idle
  (each door used once on a small folder), then after the big folder's page, its JSON
  listing and its PROPFIND Depth 1 (each read to the end), and 2 s later.

The 100,000 rows are written with direct SQL inserts (files in folders of 100, each with
its journal row, all sharing one content): only the setup, never what is measured.

Prints one JSON line.   .venv/bin/python bench/scale.py [--sizes 10000,100000] [--rounds 30]
                        .venv/bin/python bench/scale.py --memory [--big 20000]
                        --tree PATH: the code of another checkout (say, before a change)
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from common import ROOT, Running, log_in, read_process

PROPFIND_BODY = b'<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>'
FIXED = 100  # files in the folder every fixed-size operation works on
PER_FOLDER = 100  # files per folder of the bulk


def build(root: Path, total: int, big: int = 0) -> str:
    """A node whose member alex has ``total`` files (FIXED of them in `fixed/`, written
    through the store) and, with ``big``, a folder `big/` of that many; returns an app
    password of alex's."""
    from hameau.accounts import members, tokens
    from hameau.files import service as files
    from hameau.node.db import transaction
    from tests.helpers import add_member, make_node

    node = make_node(root)
    add_member(node, "alex", admin=True)
    shared = node.blobs.put(os.urandom(2048))
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        member.quota_bytes = 1 << 40
        where = files.space(member, "mine")
        files.make_folder(session, member, where, ["fixed"])
        for number in range(FIXED):
            digest = node.blobs.put(os.urandom(2048))
            plan = files.plan_write(session, member, where, ["fixed", f"f{number:03}.bin"])
            files.record_write(session, plan, member, digest, 2048)
        bulk = files.make_folder(session, member, where, ["bulk"]).id
        big_id = files.make_folder(session, member, where, ["big"]).id if big else 0
        secret = tokens.create_token(session, member, "bench")[1]
        member_id = member.id
    node.close()
    folders = [(f"bulk/d{n:05}", bulk, PER_FOLDER) for n in range(max(0, total - FIXED) // 100)]
    _bulk_insert(root / "hameau.db", member_id, shared, folders, big_id, big)
    return secret


def _bulk_insert(
    database: Path,
    member_id: int,
    digest: str,
    folders: list[tuple[str, int, int]],
    big_id: int,
    big: int,
) -> None:
    """Rows as the store writes them (file, journal), straight into SQLite."""
    db = sqlite3.connect(database)
    stamp, vector = db.execute(
        "SELECT updated_at, vector FROM sync_entries ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    seq = db.execute("SELECT value FROM sync_sequence").fetchone()[0]
    space = f"member:{member_id}"
    files, journal = [], []

    def add(parent: int, path: str, name: str) -> None:
        nonlocal seq
        seq += 1
        files.append((member_id, parent, name, digest, stamp))
        journal.append((space, f"{path}/{name}", vector, digest, seq, stamp))

    for path, parent, count in folders:
        folder = db.execute(
            "INSERT INTO file_entries (owner_id, parent_id, name, is_dir, size, content_type,"
            " revision, created_at, modified_at) VALUES (?, ?, ?, 1, 0, '', 1, ?, ?)",
            (member_id, parent, path.rsplit("/", 1)[1], stamp, stamp),
        ).lastrowid
        for number in range(count):
            add(folder, path, f"file-{number:03}.bin")  # type: ignore[arg-type]
    for number in range(big):
        add(big_id, "big", f"photo-{number:06}.jpg")
    db.executemany(
        "INSERT INTO file_entries (owner_id, parent_id, name, is_dir, blob, size, content_type,"
        " revision, charged_to, created_at, modified_at)"
        " VALUES (?1, ?2, ?3, 0, ?4, 2048, 'application/octet-stream', 1, ?1, ?5, ?5)",
        files,
    )
    db.executemany(
        "INSERT INTO sync_entries (space, path, vector, blob, size, seq, updated_at)"
        " VALUES (?, ?, ?, ?, 2048, ?, ?)",
        journal,
    )
    db.execute("UPDATE sync_sequence SET value = ?", (seq,))
    db.commit()
    db.close()


@contextmanager
def served(root: Path, tree: Path | None) -> Iterator[Running]:
    from common import process

    tree = tree or ROOT
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "hameau", "serve", "--data-dir", str(root)]
    with process(command, env=env, cwd=tree) as running:
        yield running


class Client:
    """One kept-alive connection, as a sync client or a browser keeps it."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)
        self.headers = headers

    def ask(self, method: str, path: str, body: bytes | None = None, **extra: str) -> bytes:
        try:
            self.connection.request(method, path, body=body, headers={**self.headers, **extra})
            answer = self.connection.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.connection.close()  # the server closed an idle kept-alive connection
            self.connection.request(method, path, body=body, headers={**self.headers, **extra})
            answer = self.connection.getresponse()
        data = answer.read()
        if answer.status >= 400:
            raise SystemExit(f"{method} {path}: {answer.status} {data[:300]!r}")
        return data


Work = Callable[[int], Any]


def doors(running: Running, secret: str) -> dict[str, tuple[Work, int]]:
    """Each operation (given a round number, for fresh names) and its share of the rounds."""
    basic = base64.b64encode(f"alex:{secret}".encode()).decode()
    api = Client(running.url, {"Authorization": f"Bearer {secret}"})
    dav = Client(running.url, {"Authorization": f"Basic {basic}"})
    page = Client(running.url, {"Cookie": f"hameau_session={log_in(running.url, 'alex', PW)}"})
    body = os.urandom(2048)
    depth = {"Depth": "1", "Content-Type": "application/xml"}
    return {
        "put_api": (lambda n: api.ask("PUT", f"/api/files/mine/fixed/a{n}.bin", body), 1),
        "put_dav": (lambda n: dav.ask("PUT", f"/dav/files/mine/fixed/d{n}.bin", body), 1),
        "folder_page": (lambda n: page.ask("GET", "/files/mine/fixed/"), 1),
        "folder_json": (lambda n: api.ask("GET", "/api/files/mine/fixed/"), 1),
        "propfind": (lambda n: dav.ask("PROPFIND", "/dav/files/mine/fixed/", PROPFIND_BODY, **depth), 1),
        "trash": (lambda n: api.ask("DELETE", f"/api/files/mine/fixed/a{n}.bin"), 1),
        "space_page": (lambda n: page.ask("GET", "/admin/space"), 5),  # whole archive
    }  # fmt: skip


def interleaved(nodes: list[tuple[Running, str]], rounds: int) -> list[dict[str, float]]:
    """Each operation on each node in turn, round after round (the machine's noise falls on
    both alike): the median wall time, and the server's CPU time per request."""
    tables = [doors(running, secret) for running, secret in nodes]
    figures: list[dict[str, float]] = [{} for _ in nodes]
    for name in tables[0]:
        count = max(3, rounds // tables[0][name][1])
        for table in tables:
            for number in range(3):  # warm
                table[name][0](-1 - number)
        times: list[list[float]] = [[] for _ in nodes]
        cpu = [read_process(running.pid).cpu_seconds for running, _ in nodes]
        for number in range(count):
            order = range(len(nodes)) if number % 2 == 0 else reversed(range(len(nodes)))
            for side in order:
                started = time.perf_counter()
                tables[side][name][0](number)
                times[side].append(time.perf_counter() - started)
        for side, (running, _secret) in enumerate(nodes):
            used = read_process(running.pid).cpu_seconds - cpu[side]
            figures[side][f"{name}_ms"] = round(statistics.median(times[side]) * 1000, 2)
            figures[side][f"{name}_cpu_ms"] = round(used / count * 1000, 2)
    return figures


PW = "correct horse"  # tests.helpers.PASSWORD, given to alex by build()


def check_seconds(root: Path, tree: Path | None) -> float:
    tree = tree or ROOT
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "hameau", "check", "--data-dir", str(root)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"hameau check failed:\n{done.stdout}{done.stderr}")
    return round(seconds, 2)


def built(root: Path, total: int, tree: Path | None, big: int = 0) -> str:
    """`build` run by the code of ``tree`` (its schema must be the one its server expects)."""
    tree = tree or ROOT
    command = [sys.executable, __file__, "--build", str(root), "--sizes", str(total),
               "--big", str(big), "--tree", str(tree)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=tree)
    if done.returncode != 0:
        raise SystemExit(f"building the node failed:\n{done.stderr}")
    return done.stdout.strip()


def sizes(totals: list[int], rounds: int, tree: Path | None) -> list[dict[str, float]]:
    """Nodes of each size built, served side by side and measured in turns."""
    with tempfile.TemporaryDirectory(dir=str(ROOT)) as folder, ExitStack() as stack:
        roots = [Path(folder) / f"node-{total}" for total in totals]
        secrets = [built(root, total, tree) for root, total in zip(roots, totals, strict=True)]
        running = [stack.enter_context(served(root, tree)) for root in roots]
        figures = interleaved(list(zip(running, secrets, strict=True)), rounds)
        stack.close()
        for side, root in enumerate(roots):
            figures[side]["check_s"] = check_seconds(root, tree)
    return figures


def rss_mb(pid: int) -> float:
    return round(read_process(pid).rss_kb / 1024, 1)


def memory(big: int, tree: Path | None) -> dict[str, Any]:
    """The server's memory around one read of a big folder by each door."""
    figures: dict[str, Any] = {"big_folder_files": big}
    with tempfile.TemporaryDirectory(dir=str(ROOT)) as folder:
        root = Path(folder) / "node"
        secret = built(root, FIXED, tree, big=big)
        with served(root, tree) as running:
            basic = base64.b64encode(f"alex:{secret}".encode()).decode()
            api = Client(running.url, {"Authorization": f"Bearer {secret}"})
            dav = Client(running.url, {"Authorization": f"Basic {basic}"})
            cookie = log_in(running.url, "alex", PW)
            page = Client(running.url, {"Cookie": f"hameau_session={cookie}"})
            depth = {"Depth": "1", "Content-Type": "application/xml"}
            doors = {
                "page": lambda where: page.ask("GET", f"/files/mine/{where}/"),
                "json": lambda where: api.ask("GET", f"/api/files/mine/{where}/"),
                "propfind": lambda where: dav.ask(
                    "PROPFIND", f"/dav/files/mine/{where}/", PROPFIND_BODY, **depth
                ),
            }
            for door in doors.values():  # every door's code loaded once
                door("fixed")
            time.sleep(1)
            figures["idle_mb"] = rss_mb(running.pid)
            for name, door in doors.items():
                started = time.perf_counter()
                figures[f"{name}_bytes"] = len(door("big"))
                figures[f"{name}_ms"] = round((time.perf_counter() - started) * 1000)
                figures[f"after_{name}_mb"] = rss_mb(running.pid)
            time.sleep(2)
            figures["after_all_mb"] = rss_mb(running.pid)
            figures["growth_mb"] = round(figures["after_all_mb"] - figures["idle_mb"], 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--big", type=int, default=20_000)
    parser.add_argument("--tree", type=Path, default=None)
    parser.add_argument("--build", type=Path, default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.build:  # the node built by the code of --tree, not this checkout's
        for name in [name for name in sys.modules if name.split(".")[0] in ("hameau", "tests")]:
            del sys.modules[name]
        sys.path.insert(0, str(options.tree))
        print(build(options.build, int(options.sizes), options.big))
        return
    if options.memory:
        print(json.dumps({"bench": "scale-memory", **memory(options.big, options.tree)}))
        return
    small, large = (int(size) for size in options.sizes.split(","))
    low, high = sizes([small, large], options.rounds, options.tree)
    ratios = {key: round(high[key] / low[key], 2) if low[key] else None for key in low}
    print(json.dumps({"bench": "scale", "files": [small, large], str(small): low,
                      str(large): high, "ratio": ratios}))  # fmt: skip


if __name__ == "__main__":
    main()

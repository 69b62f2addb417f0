"""`hameau move-store`: a demo node (SQLite + the local disk) with files, versions, trash,
notes, calendar events, messages and ledger entries moved to PostgreSQL + SeaweedFS, killed
twice (kill -9) at random points, resumed, then served: every file's hash, every row of the
notes, messages and ledger identical, `hameau check` clean; refused while the node is served."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hameau.accounts import members, tokens
from hameau.config import load_settings
from hameau.ledger import service as ledger
from hameau.node.blobs import load_store
from hameau.node.datadir import open_node
from hameau.node.db import transaction
from tests.e2e.served import login_cookie, serve
from tests.e2e.test_webdav import wait_for
from tests.seaweed import SECRET_KEY, Cluster

pytestmark = pytest.mark.e2e

ENV = {"HAMEAU_S3_SECRET_KEY": SECRET_KEY}
# What must come back identical, ordered by primary key.
COMPARED = ("members", "file_entries", "file_versions", "notes", "note_updates", "threads",
            "messages", "ledger_entries", "ledger_accounts", "file_usage")  # fmt: skip


@pytest.fixture
def engines(pg_url: str, request: pytest.FixtureRequest) -> tuple[str, Cluster]:
    """The run's PostgreSQL (a database of this test's own) and SeaweedFS (a prefix of its own):
    neither is restarted nor killed here."""
    return pg_url, request.getfixturevalue("seaweed")


def hameau(root: Path, *args: str, log: Path | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "hameau", *args, "--data-dir", str(root)]
    output = log.open("a") if log else subprocess.PIPE
    return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **ENV})  # fmt: skip


def run(root: Path, *args: str) -> tuple[int, str]:
    done = hameau(root, *args)
    out, _ = done.communicate(timeout=300)
    return done.returncode, out


def demo_node(root: Path) -> str:
    """`hameau demo`, then versions, trash, more files and ledger entries; alex's token."""
    assert run(root, "demo")[0] == 0
    node = open_node(load_settings(root))
    try:
        with transaction(node.sessions) as session:
            alex = members.find_member(session, "alex")
            secret = tokens.create_token(session, alex, "move")[1]
            sam = ledger.member_account(node, session, members.find_member(session, "sam"))
            mine = ledger.member_account(node, session, alex)
            ledger.issue(node, session, mine, 5000)
            ledger.transfer(node, session, mine, sam, 1200, "Graines")
    finally:
        node.close()
    with serve(root) as served, httpx.Client(base_url=served.url, auth=("alex", secret)) as http:
        for number in range(45):
            assert (
                http.put(
                    f"/api/files/mine/f{number}.bin", content=os.urandom(40_000 + number)
                ).status_code
                == 201
            )
        assert http.put("/api/files/mine/f0.bin", content=b"second version").status_code in (
            200,
            201,
            204,
        )
        assert http.delete("/api/files/mine/f1.bin").status_code in (200, 204)  # to the trash
    return secret


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The compared tables' rows, read through the node's own table types."""
    from hameau.models import metadata
    from hameau.node.engine import make_engine

    tables = metadata().tables
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                name: [tuple(row) for row in connection.execute(
                    select(tables[name]).order_by(*tables[name].primary_key.columns))]
                for name in COMPARED
            }  # fmt: skip
    finally:
        engine.dispose()


def move(root: Path, database: str, cluster: Cluster, log: Path) -> subprocess.Popen[str]:
    settings = cluster.settings("moved")
    return hameau(root, "move-store", "--database", database, "--blobs", settings["blob_store"],
                  "--s3-endpoint", cluster.endpoint, "--s3-region", "us-east-1",
                  "--s3-access-key", settings["s3_access_key"], "--batch", "10", log=log)  # fmt: skip


def kill_after(process: subprocess.Popen[str], log: Path, clue: str) -> None:
    assert wait_for(lambda: clue in log.read_text() or process.poll() is not None, 120), clue
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_a_demo_node_moved_to_postgresql_and_s3_killed_twice(
    engines: tuple[str, Cluster], tmp_path: Path
) -> None:
    database, cluster = engines
    root = tmp_path / "node"
    secret = demo_node(root)
    before = rows(f"sqlite:///{root / 'hameau.db'}")
    with serve(root):
        code, said = run(root, "move-store", "--database", database, "--blobs", "s3://hameau/x")
        assert code != 0 and said.strip().count("\n") == 0 and "being served" in said
    log = tmp_path / "move.log"
    kill_after(move(root, database, cluster, log), log, "Content: 20/")
    table = random.choice(["members", "file_entries", "file_versions", "notes", "messages"])
    kill_after(move(root, database, cluster, log), log, f"Table {table}:")
    last = move(root, database, cluster, log)
    assert last.wait(300) == 0, log.read_text()
    assert "Moved:" in log.read_text()
    code, said = run(root, "move-store", "--database", database, "--blobs", "s3://hameau/moved",
                     "--s3-endpoint", cluster.endpoint, "--s3-region", "us-east-1",
                     "--s3-access-key", cluster.settings("x")["s3_access_key"])  # fmt: skip
    assert code == 0 and "done already" in said, said
    settings = load_settings(root, ENV)
    assert settings.database_url == database and settings.blob_store == "s3://hameau/moved"
    assert rows(database) == before
    store = load_store(
        settings.blob_store, tmp_path / "reader", SimpleNamespace(**cluster.settings("moved"))
    )
    with (
        serve(root, env=ENV) as served,
        httpx.Client(base_url=served.url, auth=("alex", secret)) as http,
    ):
        listing = http.get("/api/files/mine/").text
        assert http.get("/api/files/mine/f0.bin").content == b"second version"
        for number in range(2, 45):
            got = http.get(f"/api/files/mine/f{number}.bin")
            assert got.status_code == 200 and len(got.content) == 40_000 + number
            assert store.verify(hashlib.sha256(got.content).hexdigest()) is None
        assert "f1.bin" not in listing  # still in the trash
        password = next(
            line.split("\t")[1]
            for line in (root / "demo-logins.txt").read_text().splitlines()
            if line.startswith("alex")
        )
        page = httpx.Client(
            base_url=served.url,
            cookies={"hameau_session": login_cookie(served.url, "alex", password)},
        )
        assert "Potager" in page.get("/search", params={"q": "radis"}).text  # the index moved
        assert "Liste de courses" in page.get("/search", params={"q": "raclette"}).text
        assert "Marché" in page.get("/agenda").text  # the events (Radicale's folders) stay
    from hameau.node.blobs.local import LocalBlobStore

    assert set(LocalBlobStore(root / "blobs").stored()) <= set(store.stored())
    code, said = run(root, "check")
    assert code == 0, said

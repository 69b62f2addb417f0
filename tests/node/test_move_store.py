"""`hameau move-store`'s refusals, each one line and an exit code, the node left as it was:
bad options, a served node, a database that holds a node already, damaged content. (The
whole move, killed and resumed, is tests/e2e/test_move_store.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hameau.node.serve import holding
from tests.blobstores import flip
from tests.helpers import make_node, sqlite_only
from tests.seaweed import SECRET_KEY, Cluster

# A move starts from a node on SQLite and the local disk (its PostgreSQL target: pg_url).
pytestmark = sqlite_only("move-store moves a node that is on SQLite; these nodes are made there")


def move_store(root: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "hameau", "move-store", *args, "--data-dir", str(root)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "HAMEAU_S3_SECRET_KEY": SECRET_KEY},
    )  # fmt: skip
    return done.returncode, (done.stdout + done.stderr).strip()


def refused(root: Path, *args: str) -> str:
    code, said = move_store(root, *args)
    assert code != 0 and said and "\n" not in said and "Traceback" not in said, said
    assert not (root / "hameau.toml").exists()  # the settings untouched
    return said


@pytest.fixture
def root(tmp_path: Path) -> Path:
    made = make_node(tmp_path / "node")
    made.blobs.put(b"Semer les radis en mars.")
    made.close()
    return tmp_path / "node"


@pytest.mark.parametrize(
    ("args", "clue"),
    [
        ((), "--database postgresql://"),
        (("--database", "sqlite:///elsewhere.db"), "--database must be"),
        (("--database", "mysql://x/y"), "--database must be"),
        (("--blobs", "http://bucket"), "--blobs must be"),
    ],
)
def test_bad_options_are_one_line(root: Path, args: tuple[str, ...], clue: str) -> None:
    assert clue in refused(root, *args)


def test_a_served_node_is_not_moved(root: Path, pg_url: str) -> None:
    with holding(root, exclusive=False) as taken:  # what every `hameau serve` holds
        assert taken
        assert "being served" in refused(root, "--database", pg_url)


def test_a_database_that_holds_a_node_is_refused(root: Path, pg_url: str, tmp_path: Path) -> None:
    make_node(tmp_path / "other", database_url=pg_url).close()
    assert "holds a node already" in refused(root, "--database", pg_url)
    assert not (root / "move-store.json").exists()  # refused before anything began


def test_damaged_content_stops_the_move(root: Path, seaweed: Cluster) -> None:
    from hameau.config import load_settings
    from hameau.node.datadir import open_node

    node = open_node(load_settings(root))
    (digest,) = node.blobs.stored()
    flip(node.blobs, digest)
    node.close()
    settings = seaweed.settings("damaged")
    said = refused(
        root, "--blobs", settings["blob_store"], "--s3-endpoint", seaweed.endpoint,
        "--s3-access-key", settings["s3_access_key"],
    )  # fmt: skip
    assert digest in said and "damaged" in said and "hameau check --repair" in said

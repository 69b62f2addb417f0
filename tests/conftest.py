from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hameau.node.datadir import Node
from tests.blobstores import seaweed
from tests.helpers import make_node

# The run's one SeaweedFS cluster (started when a test first asks for it), shared by every
# folder of tests: a fixture imported into several modules would start one per module.
__all__ = ["seaweed"]


# The files `make test` found slowest (its --durations), started first: its processes
# (pytest-xdist, a file each at a time) then end together instead of waiting on a long file
# begun last. Only the order changes; every test still runs.
SLOWEST_FIRST = (
    "tests/e2e/test_ledger_notaries.py",
    "tests/e2e/test_compute_hamlet.py",
    "tests/travel/test_sync.py",
    "tests/e2e/test_moving_kills.py",
    "tests/e2e/test_scale_once.py",
    "tests/e2e/test_hamlet_visit_terminal.py",
    "tests/e2e/test_shared_device.py",
    "tests/e2e/test_compute_timeouts.py",
    "tests/e2e/test_ledger_replicas.py",
    "tests/e2e/test_backup_restore.py",
    "tests/e2e/test_backup_peer.py",
    "tests/e2e/test_ai.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    first = {path: rank for rank, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: first.get(item.nodeid.split("::")[0], len(first)))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    opened = make_node(tmp_path / "node")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """A throwaway PostgreSQL 15 cluster for the whole run (tests/pg.py), or "not run"."""
    from tests import pg

    why = pg.missing()
    if why:
        pytest.skip(why)
    yield pg.shared()  # stopped when the run ends (also used by tests.helpers.make_node)


@pytest.fixture
def pg_url(pg_cluster: object) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of this test's own: its `database_url`."""
    url: str = pg_cluster.new_database()  # type: ignore[attr-defined]
    yield url
    pg_cluster.drop(url)  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    """A node on each database: SQLite (the default), then PostgreSQL (named in its
    hameau.toml too, so the commands a test runs on its data dir open the same database)."""
    from tests.pg import name_in_settings

    options = {}
    if request.param == "postgresql":
        options = name_in_settings(tmp_path / "node", request.getfixturevalue("pg_url"))
    opened = make_node(tmp_path / "node", **options)
    yield opened
    opened.close()

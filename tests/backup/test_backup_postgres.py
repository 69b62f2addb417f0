"""A node on PostgreSQL is backed up with pg_dump's snapshot and restored into an empty
database with pg_restore; and a backup runs once across the node's processes (an advisory
lock: a second process's backup is refused while the first holds it, and runs once the
holder's connection is gone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hameau.backup import key, restore, service
from hameau.backup.sheet import Sheet
from hameau.config import load_settings
from hameau.errors import Conflict
from hameau.node import datadir, once
from hameau.node.datadir import init_node
from tests.helpers import add_member
from tests.pg import name_in_settings


def test_a_node_on_postgresql_is_backed_up_and_restored_into_an_empty_database(
    tmp_path: Path, pg_url: str, pg_cluster: object
) -> None:
    (tmp_path / "usb").mkdir()
    root = tmp_path / "node"
    name_in_settings(root, pg_url)
    node = init_node(load_settings(root, {}), "Association")
    target = str(tmp_path / "usb" / "hameau")
    try:
        add_member(node, "alex")
        run = service.back_up(node, target)
        assert run.outcome == "ok"
        password = key.key_file(node.layout).read_text().strip()
    finally:
        node.close()
    fresh = pg_cluster.new_database("restored")  # type: ignore[attr-defined]
    try:
        done = restore.restore(target, tmp_path / "new", Sheet(password), fresh)
        opened = datadir.open_node(load_settings(done.data_dir, {}))
        try:
            assert opened.layout.database_url == fresh
            from hameau.accounts import members

            with opened.sessions() as session:
                assert members.find_member(session, "alex") is not None
                assert service.last_good(session) is not None
        finally:
            opened.close()
    finally:
        pg_cluster.drop(fresh)  # type: ignore[attr-defined]


def test_a_backup_held_by_another_process_is_refused_then_runs_when_it_is_gone(
    tmp_path: Path, pg_url: str
) -> None:
    (tmp_path / "usb").mkdir()
    root = tmp_path / "node"
    name_in_settings(root, pg_url)
    node = init_node(load_settings(root, {}), "Association")
    other = datadir.open_node(load_settings(root, {}))  # as a second process would
    target = str(tmp_path / "usb" / "hameau")
    try:
        with once.once(other, "backup") as mine:
            assert mine
            with pytest.raises(Conflict):
                service.back_up(node, target)
        assert service.back_up(node, target).outcome == "ok"
        with node.sessions() as session:
            assert len(service.last_runs(session)) == 1  # the refused one left no run
    finally:
        other.close()
        node.close()

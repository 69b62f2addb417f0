"""A node on PostgreSQL is not backed up by hameau yet: a backup is refused with a sentence
that says what to do, and recorded as failed (never a backup without its database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hameau.backup import service
from hameau.backup.restic import BackupFailed
from hameau.config import Settings
from hameau.node.datadir import init_node


def test_a_backup_of_a_node_on_postgresql_is_refused_and_says_what_to_do(
    tmp_path: Path, pg_url: str
) -> None:
    (tmp_path / "usb").mkdir()
    node = init_node(Settings(data_dir=tmp_path / "node", database_url=pg_url), "Association")
    try:
        with pytest.raises(BackupFailed, match="pg_dump"):
            service.back_up(node, str(tmp_path / "usb" / "hameau"))
        with node.sessions() as session:
            (run,) = service.last_runs(session)
            assert run.outcome != "ok" and service.last_good(session) is None
    finally:
        node.close()

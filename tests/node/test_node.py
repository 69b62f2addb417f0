"""The data dir, the identity and the schema."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hameau.config import ConfigError, Settings, load_settings
from hameau.models import metadata
from hameau.node import migrate
from hameau.node.datadir import Node, NodeExists, NodeMissing, init_node, open_node
from hameau.node.identity import IdentityError, derive, load_identity
from tests.helpers import sqlite_only


def test_schema_head_constant_is_alembics_head() -> None:
    assert migrate.head_revision() == migrate.SCHEMA_HEAD


def test_migrations_build_exactly_the_models(node: Node) -> None:
    with node.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": migrate.include_object}
        )
        differences = compare_metadata(context, metadata())
    assert differences == []


@sqlite_only("SQLite's PRAGMAs (WAL, foreign keys); PostgreSQL always checks foreign keys")
def test_sqlite_runs_in_wal_mode_with_foreign_keys(node: Node) -> None:
    with node.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_init_refuses_an_existing_node_and_open_refuses_a_missing_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "n")
    init_node(settings, "Un").close()
    with pytest.raises(NodeExists):
        init_node(settings, "Deux")
    with pytest.raises(NodeMissing):
        open_node(Settings(data_dir=tmp_path / "none"))


def test_a_key_readable_by_others_is_refused(node: Node) -> None:
    key = node.layout.key_file
    os.chmod(key, 0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        load_identity(key)


def test_identity_is_stable_and_signs(node: Node) -> None:
    again = load_identity(node.layout.key_file)
    assert again.node_id == node.identity.node_id
    signature = again.sign(b"hello")
    node.identity.private_key.public_key().verify(signature, b"hello")
    assert derive(node.secret, "csrf") != derive(node.secret, "other")
    assert stat.S_IMODE(node.layout.secret_file.stat().st_mode) == 0o600


def test_settings_come_from_file_then_environment(tmp_path: Path) -> None:
    (tmp_path / "hameau.toml").write_text("[node]\nport = 9000\nshared_idle_minutes = 3\n")
    settings = load_settings(tmp_path, environ={"HAMEAU_PORT": "9100"})
    assert settings.port == 9100 and settings.shared_idle_minutes == 3
    assert settings.with_overrides(port=9200, host=None).port == 9200
    with pytest.raises(ConfigError, match="option 'default_locale'"):
        load_settings(tmp_path, environ={"HAMEAU_DEFAULT_LOCALE": "de"})
    (tmp_path / "hameau.toml").write_text("[node]\nbogus = 1\n")
    with pytest.raises(ConfigError, match="unknown option 'bogus'"):
        load_settings(tmp_path, environ={})

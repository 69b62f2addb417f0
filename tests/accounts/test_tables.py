"""The accounts' light Core tables (read by the short commands without the ORM) match the
models, column by column, and list what the services list."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic import command

from hameau.accounts import devices, members, tables, tokens
from hameau.node import migrate
from hameau.node.datadir import Node
from hameau.node.db import Base, make_engine, transaction


def test_every_light_column_is_the_models_column() -> None:
    for light in (tables.members, tables.app_tokens, tables.devices):
        declared = Base.metadata.tables[light.name]
        for column in light.columns:
            assert column.name in declared.columns, f"{light.name}.{column.name}"
            assert type(column.type) is type(declared.columns[column.name].type), column


def test_the_light_listings_list_what_the_services_list(node: Node) -> None:
    with transaction(node.sessions) as session:
        alex = members.add_member(session, "alex", "a good password", quota_bytes=1 << 20)
        members.add_member(session, "bea", "a good password", quota_bytes=1 << 20)
        tokens.create_token(session, alex, "phone")
        devices.add_device(session, "Cuisine", "terminal", True)
        members.set_disabled(session, alex, True)
    with node.sessions() as session, node.engine.connect() as connection:
        assert [(m.name, m.disabled_at) for m in tables.list_members(connection)] == [
            (m.name, m.disabled_at) for m in members.list_members(session)
        ]
        light = tables.list_tokens(connection, tables.member_id(connection, " Alex"))
        assert [(t.id, t.created_at, t.revoked_at) for t in light] == [
            (t.id, t.created_at, t.revoked_at) for t in tokens.list_tokens(session, alex)
        ]
        assert [d.name for d in tables.list_devices(connection)] == ["Cuisine"]


def test_a_listing_brings_an_older_schema_up_to_date(tmp_path: Path) -> None:
    """The light path leaves a schema behind the newest revision to `open_node`."""
    root = tmp_path / "node"
    hameau = [sys.executable, "-m", "hameau"]
    subprocess.run([*hameau, "init", "--name", "N", "--data-dir", root], check=True, timeout=120)
    engine = make_engine(f"sqlite:///{root / 'hameau.db'}")
    with engine.begin() as connection:  # one revision back, as an older hameau left it
        config = migrate.alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    engine.dispose()
    listed = subprocess.run([*hameau, "member", "list", "--data-dir", root],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    with sqlite3.connect(root / "hameau.db") as database:
        found = database.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert found == migrate.SCHEMA_HEAD

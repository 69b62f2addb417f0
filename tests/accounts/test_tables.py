"""The accounts' light Core tables (read by the short commands without the ORM) match the
models, column by column, and list what the services list."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic import command
from sqlalchemy import Boolean, Date

from hameau.accounts import devices, members, tables, tokens
from hameau.node import migrate
from hameau.node.datadir import Node
from hameau.node.db import Base, make_engine, transaction
from hameau.node.engine import UTCDateTime
from hameau.node.reading import database

READ_AS = {"when": UTCDateTime, "day": Date, "flag": Boolean}


def test_every_light_column_is_the_models_column() -> None:
    """Each column read is the model's, read back as its type stores it on SQLite."""
    for name, row, readers in (tables.members, tables.app_tokens, tables.devices):
        declared = Base.metadata.tables[name]
        assert len(row._fields) == len(readers), name
        for column, reader in zip(row._fields, readers, strict=True):
            assert column in declared.columns, f"{name}.{column}"
            kind = type(declared.columns[column].type)
            assert (
                (kind is READ_AS[reader]) if reader in READ_AS else kind not in (*READ_AS.values(),)
            ), f"{name}.{column} read as {reader}"


def test_the_light_listings_list_what_the_services_list(any_node: Node) -> None:
    node = any_node  # on PostgreSQL the commands read through SQLAlchemy Core
    with transaction(node.sessions) as session:
        alex = members.add_member(session, "alex", "a good password", quota_bytes=1 << 20)
        members.add_member(session, "bea", "a good password", quota_bytes=1 << 20)
        tokens.create_token(session, alex, "phone")
        devices.add_device(session, "Cuisine", "terminal", True)
        members.set_disabled(session, alex, True)
    with (
        node.sessions() as session,
        node.engine.connect() as connection,
        database(node.layout.root) as plain,  # as the commands read (node/reading.py)
    ):
        for light in (connection, plain):
            assert [(m.name, m.is_admin, m.disabled_at) for m in tables.list_members(light)] == [
                (m.name, m.is_admin, m.disabled_at) for m in members.list_members(session)
            ]
            found = tables.list_tokens(light, tables.member_id(light, " Alex"))
            assert [(t.id, t.created_at, t.revoked_at) for t in found] == [
                (t.id, t.created_at, t.revoked_at) for t in tokens.list_tokens(session, alex)
            ]
            assert [(d.name, d.shared) for d in tables.list_devices(light)] == [("Cuisine", True)]


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

"""The node on PostgreSQL (the `database_url` setting): every migration runs there, up and
down, and builds exactly the models; a node made there opens again and is refused twice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from hameau.config import ConfigError, Settings, load_settings
from hameau.models import metadata
from hameau.node import migrate
from hameau.node.datadir import Node, NodeExists, init_node, open_node
from hameau.node.engine import make_engine
from tests.files.test_http import token
from tests.helpers import add_member, browser


def test_every_migration_runs_on_postgresql_up_and_down_and_builds_the_models(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        assert migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            context = MigrationContext.configure(
                connection, opts={"include_object": migrate.include_object}
            )
            differences = compare_metadata(context, metadata())
        assert differences == []
        assert {"members", "file_entries", "search_index", "ledger_entries"} <= tables
        config = migrate.alembic_config(pg_url)
        with engine.begin() as connection:  # every downgrade, to an empty database
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        assert migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
    finally:
        engine.dispose()


def test_a_node_on_postgresql_opens_again_and_its_database_is_one_nodes(
    tmp_path: Path, pg_url: str
) -> None:
    made = init_node(Settings(data_dir=tmp_path / "a", database_url=pg_url), "Association")
    made.close()
    assert not (tmp_path / "a" / "hameau.db").exists()  # nothing on SQLite beside it
    opened = open_node(Settings(data_dir=tmp_path / "a", database_url=pg_url))
    try:
        assert opened.name == "Association"
        assert opened.engine.dialect.name == "postgresql"
        with opened.sessions() as session:
            assert session.execute(text("SHOW transaction_isolation")).scalar() == "read committed"
    finally:
        opened.close()
    with pytest.raises(NodeExists):
        init_node(Settings(data_dir=tmp_path / "b", database_url=pg_url), "Another")


def test_the_setting_takes_postgresql_urls_and_refuses_others(tmp_path: Path) -> None:
    plain = {"HAMEAU_DATABASE_URL": "postgresql://hameau@db.lan/hameau"}
    assert (
        load_settings(tmp_path, plain).database_url == "postgresql+psycopg://hameau@db.lan/hameau"
    )
    assert load_settings(tmp_path, {}).database_url == ""
    with pytest.raises(ConfigError, match="database_url"):
        load_settings(tmp_path, {"HAMEAU_DATABASE_URL": "mysql://x@y/z"})


def test_a_long_content_type_is_kept_short_on_either_database(any_node: Node) -> None:
    """A client's Content-Type longer than its column: PostgreSQL refuses what SQLite kept."""
    add_member(any_node, "alex")
    client, alex = browser(any_node), token(any_node, "alex")
    kind = "text/" + "x" * 300
    put = client.put(
        "/api/files/mine/long.txt", content=b"hello", headers={**alex, "Content-Type": kind}
    )
    assert put.status_code == 201, put.text
    assert client.get("/api/files/mine/long.txt", headers=alex).content == b"hello"


def test_a_node_on_sqlite_never_loads_postgresql_s_driver_nor_its_search(tmp_path: Path) -> None:
    """psycopg and the PostgreSQL search are imported only by a node configured for them."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from hameau.config import Settings\n"
        "from hameau.node.datadir import init_node\n"
        "from hameau.node.db import transaction\n"
        "from hameau.search import index\n"
        f"node = init_node(Settings(data_dir=__import__('pathlib').Path({str(tmp_path / 'n')!r})), 'N')\n"
        "with transaction(node.sessions) as session:\n"
        "    index.put(session, 'note', 1, None, 'a', 'b')\n"
        "    index.search(session, 1, 'a')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'"
        " or m.endswith('search.postgres')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HAMEAU_TEST_DATABASE"}
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, check=True, timeout=120)  # fmt: skip
    assert found.stdout.strip() == "[]"


def test_a_nul_character_is_refused_not_failed_on_either_database(any_node: Node) -> None:
    """PostgreSQL refuses NUL in any text: a name or a message holding one is a 4xx there."""
    add_member(any_node, "alex")
    client = browser(any_node)
    page = client.get("/login")
    field = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = client.post("/login", data={"name": "al\x00ex", "password": "x", "csrf_token": field})
    assert 400 <= refused.status_code < 500
    alex = token(any_node, "alex")
    put = client.put("/api/files/mine/a%00b.txt", content=b"x", headers=alex)
    assert 400 <= put.status_code < 500

"""A node's database for the short commands: SQLAlchemy Core (`connected`), or the standard
library's sqlite3 alone (`database`, for the accounts' listings).

`hameau member list` reads one table: importing SQLAlchemy's ORM and the declarative models
costs more than all its work, and SQLAlchemy itself about half of what is left
(docs/benchmarks.md, "Short commands"). The node is opened as `datadir.open_node` opens it
(the same pragmas, its key file checked); a missing node, or a schema behind the newest
revision, is handed to `open_node`, which says what is wrong or brings the schema up to date.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hameau.config import Settings, load_settings
from hameau.node import migrate
from hameau.node.identity import check_private
from hameau.node.layout import Layout, exists

if TYPE_CHECKING:
    from sqlalchemy import Connection

# As node/engine.py sets them on every connection (FULL: see SYNCHRONOUS there).
PRAGMAS = ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL", "busy_timeout=5000")


def _open_fully(settings: Settings) -> None:
    """`open_node`'s checks and upgrade (the ORM loaded, for this rare case only)."""
    from hameau.node import datadir

    datadir.open_node(settings).close()


@contextmanager
def connected(data_dir: Path | None) -> Iterator[Connection]:
    """A connection in a transaction (committed on success), closed on the way out."""
    settings = load_settings(data_dir)
    layout = Layout.of(settings)
    if not exists(layout):
        _open_fully(settings)  # raises NodeMissing, saying how to make one
    check_private(layout.key_file)
    from hameau.node.engine import make_engine

    engine = make_engine(layout.database_url)
    try:
        if migrate.current_revision(engine) != migrate.SCHEMA_HEAD:
            _open_fully(settings)
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        found = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table: a database never migrated
        return None
    return None if found is None else str(found[0])


@contextmanager
def database(data_dir: Path | None) -> Iterator[Any]:
    """The node's SQLite database through the standard library, in one transaction (its
    reads see one state; committed on success), closed on the way out. A node on
    PostgreSQL is read through SQLAlchemy Core (`connected`): the same SQL, by `execute`."""
    settings = load_settings(data_dir)
    layout = Layout.of(settings)
    if not layout.on_sqlite:
        with connected(data_dir) as through_core:
            yield through_core
        return
    if not exists(layout):
        _open_fully(settings)  # raises NodeMissing, saying how to make one
    check_private(layout.key_file)
    connection = sqlite3.connect(layout.database, isolation_level=None)  # BEGIN/COMMIT below
    try:
        for pragma in PRAGMAS:
            connection.execute(f"PRAGMA {pragma}")
        if _revision(connection) != migrate.SCHEMA_HEAD:
            _open_fully(settings)
        connection.execute("BEGIN")
        yield connection
        connection.execute("COMMIT")
    finally:
        connection.close()


def execute(connection: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The same SQL (``?`` parameters) on sqlite3 or on a SQLAlchemy connection (through its
    driver, as is: values come back as the database stores them). psycopg takes ``%s``:
    the SQL of these readers holds no ``?`` nor ``%`` of its own."""
    if hasattr(connection, "exec_driver_sql"):
        if connection.dialect.paramstyle != "qmark":
            sql = sql.replace("%", "%%").replace("?", "%s")
        return connection.exec_driver_sql(sql, params)
    return connection.execute(sql, params)


def utc(value: str | datetime | None) -> datetime | None:
    """A timestamp as SQLAlchemy stores it (UTC, naive: text on SQLite, a timestamp on
    PostgreSQL), timezone-aware."""
    if value is None:
        return None
    found = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return found.replace(tzinfo=UTC)

"""Alembic migrations, run from code so `hameau init` and `hameau serve` need no alembic.ini.

Alembic is imported only when the schema is behind: a node that is up to date checks one
row and keeps alembic (about 11 MB) out of its memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # SQLAlchemy too: the accounts' listings read SCHEMA_HEAD without it
    from alembic.config import Config
    from sqlalchemy import Engine

# The newest revision in migrations/versions; a test checks it matches alembic's head.
SCHEMA_HEAD = "0035"


def include_object(
    obj: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    """Autogenerate leaves alone what migrations make by hand: the search table (FTS5 on
    SQLite, a tsvector table on PostgreSQL)."""
    return not (kind == "table" and (name or "").startswith("search_index"))


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "hameau.node:migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    from sqlalchemy import inspect, text

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def upgrade(engine: Engine) -> bool:
    """Bring the schema to the newest revision; True if anything was applied."""
    if current_revision(engine) == SCHEMA_HEAD:
        return False
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return True

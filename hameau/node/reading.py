"""A node's database reached through SQLAlchemy Core only, for the short commands.

`hameau member list` reads one table: importing SQLAlchemy's ORM and the declarative models
costs more than all its work (docs/benchmarks.md, "Short commands"). The node is opened as
`datadir.open_node` opens it (the same engine and pragmas, its key file checked); a missing
node, or a schema behind the newest revision, is handed to `open_node`, which says what is
wrong or brings the schema up to date.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from hameau.config import Settings, load_settings
from hameau.node import migrate
from hameau.node.engine import make_engine
from hameau.node.identity import check_private
from hameau.node.layout import Layout, exists

if TYPE_CHECKING:
    from sqlalchemy import Connection


def _open_fully(settings: Settings) -> None:
    """`open_node`'s checks and upgrade (the ORM loaded, for this rare case only)."""
    from hameau.node import datadir

    datadir.open_node(settings).close()


@contextmanager
def connected(data_dir: Path | None) -> Iterator[Connection]:
    """A connection in a transaction (committed on success), closed on the way out."""
    settings = load_settings(data_dir)
    layout = Layout(settings.data_dir)
    if not exists(layout):
        _open_fully(settings)  # raises NodeMissing, saying how to make one
    check_private(layout.key_file)
    engine = make_engine(layout.database_url)
    try:
        if migrate.current_revision(engine) != migrate.SCHEMA_HEAD:
            _open_fully(settings)
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()

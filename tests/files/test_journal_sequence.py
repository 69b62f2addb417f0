"""The files journal's sequence: unique, strictly increasing, and so for a database made
before it was (the upgrade to 0009 renumbers shared numbers above the highest, where every
satellite's cursor still sees them)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import text

from hameau.files import journal
from hameau.node.db import make_engine, make_sessionmaker, transaction
from hameau.node.migrate import alembic_config, upgrade


def test_the_upgrade_gives_shared_numbers_new_ones_above_the_highest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
    old = [1, 2, 2, 3, 3, 3, 5]  # as concurrent writers left them
    with engine.begin() as connection:
        for number, seq in enumerate(old):
            connection.execute(
                text(
                    "INSERT INTO sync_entries (space, path, vector, blob, size, seq, updated_at)"
                    " VALUES ('household', :path, '{}', NULL, 0, :seq, :now)"
                ),
                {"path": f"p{number}", "seq": seq, "now": datetime.now(UTC).replace(tzinfo=None)},
            )
    assert upgrade(engine)
    with engine.connect() as connection:
        seqs = dict(connection.execute(text("SELECT path, seq FROM sync_entries")).all())
    assert seqs == {"p0": 1, "p1": 2, "p2": 6, "p3": 3, "p4": 7, "p5": 8, "p6": 5}
    with transaction(make_sessionmaker(engine)) as session:
        session.info["hameau.replica"] = "here"
        journal.wrote(session, None, "new.txt", "0" * 64, 1)
        assert journal.changes_since(session, None, 8)[0].seq == 9
    engine.dispose()

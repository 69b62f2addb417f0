"""The database layer keeps SQLite's transactions whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from hameau.node.db import make_engine, make_sessionmaker, transaction


def test_a_savepoint_opened_first_is_undone_with_its_transaction(tmp_path: Path) -> None:
    """pysqlite opens no transaction before a SAVEPOINT, so SQLite made the savepoint the
    transaction and its release committed it: what a nested block wrote outlived the rollback."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE things (name TEXT)")
    factory = make_sessionmaker(engine)
    with pytest.raises(RuntimeError), transaction(factory) as session:
        with session.begin_nested():
            session.execute(text("INSERT INTO things VALUES ('kept by mistake')"))
        raise RuntimeError("the outer transaction fails after the savepoint was released")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM things").scalar() == 0
    with transaction(factory) as session, session.begin_nested():  # the ordinary path commits
        session.execute(text("INSERT INTO things VALUES ('kept')"))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM things").scalar() == 1

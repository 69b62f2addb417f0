"""The search index's rows are found by their (kind, ref) through the rowid, not a scan: a
file or note indexed again replaces its row, and a note and a file of the same number are two
rows; the migration that gave rows made before their rowid keeps each once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from hameau.node.db import transaction
from hameau.search import index
from tests.helpers import add_member, make_node


def test_a_row_put_again_replaces_itself_and_a_note_and_file_of_one_number_are_two(
    tmp_path: Path,
) -> None:
    node = make_node(tmp_path / "node")
    try:
        member = add_member(node, "alice")
        with transaction(node.sessions) as session:
            index.put(session, "file", 7, member, "list.txt", "apples and pears")
            index.put(session, "file", 7, member, "list.txt", "apples and plums")
            index.put(session, "note", 7, member, "Shopping", "apples")
            hits = index.search(session, member, "apples")
            assert sorted((hit.kind, hit.ref) for hit in hits) == [("file", 7), ("note", 7)]
            assert index.search(session, member, "pears") == []
            index.retitle(session, "file", 7, "courses.txt")
            index.move_owner(session, "file", [7], None)
            index.remove(session, "note", 7)
            rows = session.execute(text("SELECT kind, ref, owner_id, title FROM search_index"))
            assert rows.all() == [("file", 7, None, "courses.txt")]
    finally:
        node.close()


def test_the_migration_renumbers_rows_made_before_their_rowid(tmp_path: Path) -> None:
    import importlib

    node = make_node(tmp_path / "node")
    try:
        with transaction(node.sessions) as session:  # as the code before 0026 wrote them
            for kind, ref, body in (("file", 3, "old words"), ("note", 3, "a note")):
                session.execute(
                    text(
                        "INSERT INTO search_index (kind, ref, owner_id, title, body) "
                        "VALUES (:kind, :ref, NULL, 't', :body)"
                    ),
                    {"kind": kind, "ref": ref, "body": body},
                )
        migration = importlib.import_module("hameau.node.migrations.versions.0026_search_rowids")
        with node.engine.begin() as connection:
            from alembic.migration import MigrationContext
            from alembic.operations import Operations

            with Operations.context(MigrationContext.configure(connection)):
                migration.upgrade()
        with transaction(node.sessions) as session:
            index.put(session, "file", 3, None, "t", "new words")
            rows = session.execute(text("SELECT rowid, kind, ref, body FROM search_index"))
            assert sorted(rows.all()) == [(13, "note", 3, "a note"), (14, "file", 3, "new words")]
    finally:
        node.close()

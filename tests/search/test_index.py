"""The search index's rows are found by their (kind, ref) through the rowid, not a scan: a
file or note indexed again replaces its row, and a note and a file of the same number are two
rows; the migration that gave rows made before their rowid keeps each once. Each test runs on
both databases (FTS5 on SQLite, full-text search on PostgreSQL) through `any_node`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.search import index
from tests.helpers import add_member, make_node


def test_a_row_put_again_replaces_itself_and_a_note_and_file_of_one_number_are_two(
    any_node: Node,
) -> None:
    node = any_node
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


def test_the_migration_renumbers_rows_made_before_their_rowid(any_node: Node) -> None:
    import importlib

    node = any_node
    try:
        postgres = node.engine.dialect.name == "postgresql"  # its table has the words too
        words, empty = (", words", ", ''") if postgres else ("", "")
        with transaction(node.sessions) as session:  # as the code before 0026 wrote them
            for kind, ref, body in (("file", 3, "old words"), ("note", 3, "a note")):
                session.execute(
                    text(
                        f"INSERT INTO search_index (kind, ref, owner_id, title, body{words}) "  # noqa: S608
                        f"VALUES (:kind, :ref, NULL, 't', :body{empty})"
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


def test_words_are_found_by_prefix_without_accents_in_french_and_english_alike(
    any_node: Node,
) -> None:
    """What a member types finds what they wrote, on either database: a word's beginning,
    without its accents, a title before a body, nothing of another member's."""
    node = any_node
    alex, sam = add_member(node, "alex"), add_member(node, "sam")
    with transaction(node.sessions) as session:
        index.put(session, "note", 1, alex, "Été au jardin", "Planter les tomates en mai.")
        index.put(session, "note", 2, alex, "Courses", "Acheter du pain et une tomate.")
        index.put(session, "file", 3, None, "garden.md", "The gardening club meets on Sunday.")
        index.put(session, "note", 4, sam, "Tomates de Sam", "Les tomates de Sam.")
        found = index.search(session, alex, "tomate")
        assert [(hit.kind, hit.ref) for hit in found] == [("note", 1), ("note", 2)] or [
            (hit.kind, hit.ref) for hit in found
        ] == [("note", 2), ("note", 1)]
        assert [hit.ref for hit in index.search(session, alex, "ete jardin")] == [1]
        assert [hit.ref for hit in index.search(session, alex, "garden")] == [3]
        assert [hit.ref for hit in index.search(session, sam, "tomates")] == [4]
        assert [hit.ref for hit in index.search(session, alex, "tomate pain")] == [2]
        assert "[tomate]" in index.search(session, alex, "pain tomate")[0].snippet
        assert [hit.ref for hit in index.search(session, alex, "pain club", any_word=True)] in (
            [2, 3], [3, 2],
        )  # fmt: skip
        ranked = index.search(session, alex, "jardin")
        index.put(session, "note", 5, alex, "Notes", "Le jardin, le jardin, le jardin.")
        assert ranked[0].ref == 1
        assert index.search(session, alex, "jardin")[0].ref == 1  # the title counts more
        for hostile in (
            '"',
            "NEAR(",
            "*",
            "tarte OR",
            "-x",
            "'",
            "a:*",
            "!(",
            "&|",
            "\x00",
            "\x1f",
        ):
            index.search(session, alex, hostile)
            index.passages(session, alex, hostile, limit=2)
        assert [hit.ref for hit in index.search(session, alex, "pain\x00")] == [2]  # NUL: a space
        assert [hit.ref for hit in index.passages(session, alex, "\x00pain", limit=2)] == [2]
        marked = index.passages(session, alex, "gardening club", limit=2)
        assert [hit.ref for hit in marked] == [3]
        assert marked[0].lines and "\x02club\x03" in marked[0].lines[0]


def test_on_postgresql_words_are_stemmed_in_french_and_in_english(
    pg_url: str, tmp_path: Path
) -> None:
    """PostgreSQL's full-text search reads each text in the `french` and the `english`
    configurations (docs/scale.md): another form of a word finds it in either language, which
    a prefix alone (FTS5) does not."""
    from tests.pg import name_in_settings

    node = make_node(tmp_path / "node", **name_in_settings(tmp_path / "node", pg_url))
    try:
        alex = add_member(node, "alex")
        with transaction(node.sessions) as session:
            index.put(session, "note", 1, alex, "Écurie", "Les chevaux rentrent le soir.")
            index.put(session, "note", 2, alex, "Club", "The committee meets on Sunday.")
            assert [hit.ref for hit in index.search(session, alex, "cheval")] == [1]  # French
            assert [hit.ref for hit in index.search(session, alex, "meeting")] == [2]  # English
    finally:
        node.close()

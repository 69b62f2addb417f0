"""The search index on SQLite: an FTS5 table (migration 0003), BM25 ranking, its own
`snippet()` and `highlight()`. A row's rowid is its (kind, ref) (`index.rowid`): FTS5
indexes no other column, so a row found by ``kind = … AND ref = …`` is a scan of the whole
table, found by rowid a lookup (migration 0026 gave the rows made before their rowid)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def put(
    session: Session, row: int, kind: str, ref: int, owner_id: int | None, title: str, body: str
) -> None:
    remove(session, row)
    session.execute(
        text(
            "INSERT INTO search_index (rowid, kind, ref, owner_id, title, body) "
            "VALUES (:row, :kind, :ref, :owner, :title, :body)"
        ),
        {"row": row, "kind": kind, "ref": ref, "owner": owner_id, "title": title, "body": body},
    )


def remove(session: Session, row: int) -> None:
    session.execute(text("DELETE FROM search_index WHERE rowid = :row"), {"row": row})


def retitle(session: Session, row: int, title: str) -> None:
    session.execute(
        text("UPDATE search_index SET title = :title WHERE rowid = :row"),
        {"title": title, "row": row},
    )


# Control characters are spaces in a query: FTS5 reads a NUL as the end of a quoted word.
_SPACES = {code: " " for code in [*range(32), 127]}


def _match_expression(query: str, any_word: bool = False) -> str:
    """The user's words as FTS5 prefix terms, quoted, so no query syntax can be injected.

    All words must match, or (``any_word``, for a question in plain words) any of them."""
    words = query.replace('"', " ").translate(_SPACES).split()[:12]
    return (" OR " if any_word else " ").join(f'"{word}"*' for word in words)


def search(
    session: Session, member_id: int, query: str, limit: int, any_word: bool
) -> list[tuple[Any, ...]]:
    """(kind, ref, title, snippet) of the best matches (BM25), words marked with [ ]."""
    expression = _match_expression(query, any_word)
    if not expression:
        return []
    rows = session.execute(
        text(
            "SELECT kind, ref, title, snippet(search_index, 4, '[', ']', '…', 12) "
            "FROM search_index WHERE search_index MATCH :expression "
            "AND (owner_id = :member OR owner_id IS NULL) "
            "ORDER BY bm25(search_index, 0, 0, 0, 5.0, 1.0) LIMIT :limit"
        ),
        {"expression": expression, "member": member_id, "limit": limit},
    )
    return [tuple(row) for row in rows]


def highlighted(
    session: Session, member_id: int, query: str, limit: int, marks: tuple[str, str]
) -> list[tuple[Any, ...]]:
    """(kind, ref, title, whole body with the matched words between ``marks``) of the
    documents matching any of the words best."""
    expression = _match_expression(query, any_word=True)
    if not expression:
        return []
    rows = session.execute(
        text(
            "SELECT kind, ref, title, highlight(search_index, 4, :open, :close) "
            "FROM search_index WHERE search_index MATCH :expression "
            "AND (owner_id = :member OR owner_id IS NULL) "
            "ORDER BY bm25(search_index, 0, 0, 0, 5.0, 1.0) LIMIT :limit"
        ),
        {"expression": expression, "member": member_id, "limit": limit,
         "open": marks[0], "close": marks[1]},
    )  # fmt: skip
    return [tuple(row) for row in rows]

"""The search index: one FTS5 row per note or text file, rewritten when it changes.

Rows carry who may see them: ``owner_id`` (a member) or NULL for the household's files.
A row's rowid is its (kind, ref) (`rowid`): FTS5 indexes no other column, so a row found by
``kind = … AND ref = …`` is a scan of the whole table, found by rowid a lookup (migration
0026 gave the rows made before their rowid).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from hameau.search import passages as cutting

MAX_TEXT = 1 << 20  # larger files are not indexed
TEXT_TYPES = ("text/", "application/json", "application/xml")
TEXT_SUFFIXES = (".md", ".txt", ".csv", ".org", ".rst", ".json", ".xml", ".html", ".ics", ".vcf")


@dataclass(frozen=True)
class Hit:
    kind: str  # "note" or "file"
    ref: int
    title: str
    snippet: str
    lines: tuple[str, ...] = ()  # for the AI: the sentences that matched, words marked


def is_text(name: str, content_type: str, size: int) -> bool:
    return size <= MAX_TEXT and (
        content_type.startswith(TEXT_TYPES) or name.lower().endswith(TEXT_SUFFIXES)
    )


KINDS = {"note": 1, "file": 2}  # a row's rowid: ref * 4 + its kind's number


def rowid(kind: str, ref: int) -> int:
    return int(ref) * 4 + KINDS[kind]


def put(session: Session, kind: str, ref: int, owner_id: int | None, title: str, body: str) -> None:
    remove(session, kind, ref)
    session.execute(
        text(
            "INSERT INTO search_index (rowid, kind, ref, owner_id, title, body) "
            "VALUES (:row, :kind, :ref, :owner, :title, :body)"
        ),
        {"row": rowid(kind, ref), "kind": kind, "ref": ref, "owner": owner_id,
         "title": title, "body": body},
    )  # fmt: skip


def remove(session: Session, kind: str, ref: int) -> None:
    session.execute(text("DELETE FROM search_index WHERE rowid = :row"), {"row": rowid(kind, ref)})


def _match_expression(query: str, any_word: bool = False) -> str:
    """The user's words as FTS5 prefix terms, quoted, so no query syntax can be injected.

    All words must match, or (``any_word``, for a question in plain words) any of them."""
    words = [word for word in query.replace('"', " ").split() if word][:12]
    return (" OR " if any_word else " ").join(f'"{word}"*' for word in words)


def search(
    session: Session, member_id: int, query: str, limit: int = 20, any_word: bool = False
) -> list[Hit]:
    """The member's notes and files, and the household's files, best match (BM25) first."""
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
    return [Hit(kind, int(ref), title, snippet) for kind, ref, title, snippet in rows]


def retitle(session: Session, kind: str, ref: int, title: str) -> None:
    session.execute(
        text("UPDATE search_index SET title = :title WHERE rowid = :row"),
        {"title": title, "row": rowid(kind, ref)},
    )


def move_owner(session: Session, kind: str, refs: list[int], owner_id: int | None) -> None:
    for ref in refs:
        session.execute(
            text("UPDATE search_index SET owner_id = :owner WHERE rowid = :row"),
            {"owner": owner_id, "row": rowid(kind, ref)},
        )


def remove_many(session: Session, kind: str, refs: list[int]) -> None:
    for ref in refs:
        remove(session, kind, ref)


def remove_owner(session: Session, owner_id: int) -> None:
    """Everything of one member, of every kind (their copy deleted after moving home)."""
    session.execute(text("DELETE FROM search_index WHERE owner_id = :owner"), {"owner": owner_id})


def passages(session: Session, member_id: int, query: str, limit: int = 4) -> list[Hit]:
    """For the AI: the documents that match a question in plain words best (BM25), from what
    the member may read (their notes and files, the household's files), each cut to the lines
    where its words matched (`hameau.search.passages`)."""
    expression = _match_expression(query, any_word=True)
    if not expression:
        return []
    values = {"expression": expression, "member": member_id, "limit": limit}
    rows = session.execute(
        text(
            "SELECT kind, ref, title, highlight(search_index, 4, :open, :close) "
            "FROM search_index WHERE search_index MATCH :expression "
            "AND (owner_id = :member OR owner_id IS NULL) "
            "ORDER BY bm25(search_index, 0, 0, 0, 5.0, 1.0) LIMIT :limit"
        ),
        {**values, "open": cutting.OPEN, "close": cutting.CLOSE},
    )
    hits = []
    for kind, ref, title, marked in rows:
        lines = tuple(cutting.best(marked, query.split()))
        if lines:  # a match in the title only: the document is named, no sentence to give
            snippet = " … ".join(cutting.plain(line) for line in lines)
        else:
            snippet = cutting.plain(cutting.units(marked)[0]) if marked.strip() else ""
        hits.append(Hit(kind, int(ref), title, snippet, lines))
    return hits

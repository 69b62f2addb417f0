"""The search index on PostgreSQL: a plain table (migration 0003) whose ``words`` column holds
the title (weight A) and the body (weight D) as a tsvector in the French and the English
configurations, under a GIN index; ranked by `ts_rank`, title five times the body, as FTS5's
BM25 weights them.

The text is folded (lower case, accents taken off, `passages.fold`) before PostgreSQL sees
it, as FTS5's ``remove_diacritics`` does, and each word of a query is a prefix in both
configurations, so the same words find the same documents on either database. Matched words
are marked here, on the stored text, by the same prefixes (PostgreSQL's `ts_headline` would
mark the folded text, not what the member wrote)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from hameau.search.passages import fold

CONFIGS = ("french", "english")
# A tsvector holds at most 1 MB: the body's first characters only are indexed (docs/scale.md).
INDEXED = 200_000
MOST_WORDS = 12
WORD = re.compile(r"\w+")
RANK = "ts_rank('{0.2, 0.2, 0.2, 1.0}', words, query.q)"  # weights of D, C, B, A

_WORDS = " || ".join(
    [f"setweight(to_tsvector('{c}', :title_words), 'A')" for c in CONFIGS]
    + [f"setweight(to_tsvector('{c}', :body_words), 'D')" for c in CONFIGS]
)
_PUT = text(
    "INSERT INTO search_index (rowid, kind, ref, owner_id, title, body, words) "  # noqa: S608
    f"VALUES (:row, :kind, :ref, :owner, :title, :body, {_WORDS}) "
    "ON CONFLICT (rowid) DO UPDATE SET kind = excluded.kind, ref = excluded.ref, "
    "owner_id = excluded.owner_id, title = excluded.title, body = excluded.body, "
    "words = excluded.words"
)


def _clean(value: str) -> str:
    return value.replace("\x00", "")  # PostgreSQL's text holds no NUL; FTS5 ignores them


def put(
    session: Session, row: int, kind: str, ref: int, owner_id: int | None, title: str, body: str
) -> None:
    title, body = _clean(title), _clean(body)
    session.execute(
        _PUT,
        {"row": row, "kind": kind, "ref": ref, "owner": owner_id, "title": title, "body": body,
         "title_words": fold(title), "body_words": fold(body[:INDEXED])},
    )  # fmt: skip


def remove(session: Session, row: int) -> None:
    session.execute(text("DELETE FROM search_index WHERE rowid = :row"), {"row": row})


def retitle(session: Session, row: int, title: str) -> None:
    found = session.execute(
        text("SELECT kind, ref, owner_id, body FROM search_index WHERE rowid = :row"),
        {"row": row},
    ).first()
    if found is not None:  # the title's words are part of the indexed words
        put(session, row, found[0], found[1], found[2], title, found[3])


def terms(query: str) -> list[str]:
    """The query's words, folded, as the prefixes looked for (no query syntax passes)."""
    return list(dict.fromkeys(WORD.findall(fold(query))))[:MOST_WORDS]


def _tsquery(words: list[str], any_word: bool) -> tuple[str, dict[str, str]]:
    """Each word a prefix in every configuration; all of them (or any) must match."""
    each = [
        "(" + " || ".join(f"to_tsquery('{c}', :w{n})" for c in CONFIGS) + ")"
        for n in range(len(words))
    ]
    values = {f"w{n}": f"'{word}':*" for n, word in enumerate(words)}  # \w+: no quote inside
    return (" || " if any_word else " && ").join(each), values


def _found(
    session: Session, member_id: int, words: list[str], limit: int, any_word: bool
) -> list[tuple[Any, ...]]:
    query, values = _tsquery(words, any_word)
    rows = session.execute(
        text(
            f"SELECT kind, ref, title, body FROM search_index, (SELECT {query} AS q) AS query "  # noqa: S608
            "WHERE words @@ query.q AND (owner_id = :member OR owner_id IS NULL) "
            f"ORDER BY {RANK} DESC, rowid LIMIT :limit"
        ),
        {**values, "member": member_id, "limit": limit},
    )
    return [tuple(row) for row in rows]


def mark(body: str, words: list[str], marks: tuple[str, str]) -> str:
    """The body with each word that begins with one of ``words`` (folded) between marks."""
    opening, closing = marks

    def marked(match: re.Match[str]) -> str:
        word = match.group(0)
        hit = fold(word).startswith(tuple(words))
        return f"{opening}{word}{closing}" if hit else word

    return WORD.sub(marked, body)


def snippet(marked: str, marks: tuple[str, str], size: int = 12) -> str:
    """About ``size`` words around the first marked one, "…" where cut (FTS5's snippet)."""
    pieces = marked.split()
    first = next((n for n, piece in enumerate(pieces) if marks[0] in piece), 0)
    start = max(0, min(first - size // 3, len(pieces) - size))
    shown = " ".join(pieces[start : start + size])
    shown = ("…" if start else "") + shown + ("…" if start + size < len(pieces) else "")
    return shown.replace(marks[0], "[").replace(marks[1], "]")


def search(
    session: Session, member_id: int, query: str, limit: int, any_word: bool
) -> list[tuple[Any, ...]]:
    """(kind, ref, title, snippet) of the best matches, words marked with [ ]."""
    words = terms(query)
    if not words:
        return []
    marks = ("\x02", "\x03")
    return [
        (kind, ref, title, snippet(mark(body, words, marks), marks))
        for kind, ref, title, body in _found(session, member_id, words, limit, any_word)
    ]


def highlighted(
    session: Session, member_id: int, query: str, limit: int, marks: tuple[str, str]
) -> list[tuple[Any, ...]]:
    """(kind, ref, title, whole body with the matched words between ``marks``) of the
    documents matching any of the words best."""
    words = terms(query)
    if not words:
        return []
    return [
        (kind, ref, title, mark(body, words, marks))
        for kind, ref, title, body in _found(session, member_id, words, limit, True)
    ]

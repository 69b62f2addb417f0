"""The search index: one row per note or text file, rewritten when it changes, behind one
interface whatever the database: FTS5 on SQLite (`search/fts5.py`), PostgreSQL's full-text
search on PostgreSQL (`search/postgres.py`), chosen by the session's database.

Rows carry who may see them: ``owner_id`` (a member) or NULL for the household's files.
A row's rowid is its (kind, ref) (`rowid`), so a row is found by lookup on either database.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

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


def backend(session: Session) -> ModuleType:
    """The module that speaks this session's database's search (the other one never loads)."""
    dialect = session.get_bind().dialect.name
    return importlib.import_module(BACKENDS.get(dialect, BACKENDS["sqlite"]))


BACKENDS = {"sqlite": "hameau.search.fts5", "postgresql": "hameau.search.postgres"}


def put(session: Session, kind: str, ref: int, owner_id: int | None, title: str, body: str) -> None:
    backend(session).put(session, rowid(kind, ref), kind, ref, owner_id, title, body)


def remove(session: Session, kind: str, ref: int) -> None:
    backend(session).remove(session, rowid(kind, ref))


def search(
    session: Session, member_id: int, query: str, limit: int = 20, any_word: bool = False
) -> list[Hit]:
    """The member's notes and files, and the household's files, best match first; all the
    words (prefixes) must match, or (``any_word``, for a question in plain words) any."""
    rows = backend(session).search(session, member_id, query, limit, any_word)
    return [Hit(kind, int(ref), title, snippet) for kind, ref, title, snippet in rows]


def retitle(session: Session, kind: str, ref: int, title: str) -> None:
    backend(session).retitle(session, rowid(kind, ref), title)


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
    marks = (cutting.OPEN, cutting.CLOSE)
    rows = backend(session).highlighted(session, member_id, query, limit, marks)
    hits = []
    for kind, ref, title, marked in rows:
        lines = tuple(cutting.best(marked, query.split()))
        if lines:  # a match in the title only: the document is named, no sentence to give
            snippet = " … ".join(cutting.plain(line) for line in lines)
        else:
            snippet = cutting.plain(cutting.units(marked)[0]) if marked.strip() else ""
        hits.append(Hit(kind, int(ref), title, snippet, lines))
    return hits

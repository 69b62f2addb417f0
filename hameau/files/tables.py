"""The files journal and the contents it refers to, in plain SQL, and the home's changes: what
`hameau travel status` reads of files without SQLAlchemy (docs/benchmarks.md, "Short
commands"), on the standard library's sqlite3 or on a SQLAlchemy connection
(`node/reading.py:execute`). `journal.py` and `models.py` declare the tables; the columns
read here are checked against them by tests/files/test_tables.py.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hameau.errors import HameauError
from hameau.node.reading import execute, utc

HOUSEHOLD = "household"

# The columns read, by table (and how each stored value is read back: "json", "when", "same").
COLUMNS = {
    "sync_entries": {"space": "same", "path": "same", "vector": "json", "blob": "same",
                     "seq": "same"},
    "file_entries": {"blob": "same", "modified_at": "when"},
    "file_versions": {"blob": "same", "created_at": "when"},
}  # fmt: skip


class StoreNotMounted(HameauError):
    status = 503


def space_key(owner_id: int | None) -> str:
    return HOUSEHOLD if owner_id is None else f"member:{owner_id}"


def owner_id(space: str, member_id: int) -> int | None:
    """Whose files a space of a satellite's member is ("household": nobody's)."""
    return member_id if space == "mine" else None


def changed_paths(connection: Any, owner_id: int | None, since: int) -> set[str]:
    """The paths of a space changed after sequence ``since``."""
    sql = "SELECT path FROM sync_entries WHERE space || '' = ? AND seq > ?"  # the seq index
    return {path for (path,) in execute(connection, sql, (space_key(owner_id), since))}


def conflict_copies(connection: Any, owner_id: int | None) -> list[str]:
    """The conflict copies of a space still there."""
    sql = "SELECT path FROM sync_entries WHERE space = ? AND blob IS NOT NULL"
    found = execute(connection, sql, (space_key(owner_id),))
    return [path for (path,) in found if "(conflit " in path]


def vectors(connection: Any, owner_id: int | None, paths: list[str]) -> dict[str, dict[str, int]]:
    """The version vector of each of these paths the journal has."""
    found: dict[str, dict[str, int]] = {}
    for start in range(0, len(paths), 500):
        chunk = paths[start : start + 500]
        marks = ", ".join("?" * len(chunk))  # one parameter per path
        sql = f"SELECT path, vector FROM sync_entries WHERE space = ? AND path IN ({marks})"  # noqa: S608
        rows = execute(connection, sql, (space_key(owner_id), *chunk))
        found |= {path: dict(_json(vector)) for path, vector in rows}
    return found


def _json(value: Any) -> Any:
    """A JSON column's value: text on SQLite, already decoded by psycopg on PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def store_problem(connection: Any, store: Any) -> StoreNotMounted | None:
    """Why sync must not run with this content store, if it must not: it has lost its
    marker file and most of the content its database refers to (an unmounted disk, a lost
    folder; new content written there since does not make it the store it was)."""
    if store.has_marker():
        return None
    written: dict[str, datetime] = {}  # each content referred to, and when it was written
    rows = [
        (digest, utc(when)) for digest, when in execute(
            connection, "SELECT blob, modified_at FROM file_entries WHERE blob IS NOT NULL"
            " UNION ALL SELECT blob, created_at FROM file_versions",
        )
    ]  # fmt: skip
    for digest, when in rows:  # (both columns are NOT NULL: `when` is None for no row)
        if digest and when and (digest not in written or when < written[digest]):
            written[digest] = when
    missing = [when for digest, when in written.items() if not store.exists(digest)]
    present = [when for digest, when in written.items() if store.exists(digest)]
    swapped = bool(missing) and (not present or max(missing) < min(present))
    if swapped or len(missing) * 10 > len(written):  # a few damaged contents are another matter
        return StoreNotMounted(
            "The content folder %(folder)s has lost its marker file and its content: is its"
            " disk mounted? Nothing was synced.",
            folder=store.location,
        )
    return None


def home_changes(home: Any, space: str, since: int) -> tuple[dict[str, dict[str, Any]], int]:
    """The home's changes of a space after ``since``, a page at a time; the last sequence."""
    found: dict[str, dict[str, Any]] = {}
    while True:
        page = home.call(
            "GET", f"/api/travel/files/{space}/changes",
            params={"since": since, "limit": home.page_size},
        )  # fmt: skip
        for change in page["changes"]:
            found[change["path"]] = change
        since = page["last"]
        if not page["more"]:
            return found, since

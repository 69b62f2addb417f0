"""The files journal and the contents it refers to, as SQLAlchemy Core sees them, and the
home's changes: what `hameau travel status` reads of files without the ORM (docs/benchmarks.md,
"Short commands"). `journal.py` and `models.py` declare the tables; these light views name the
columns read, checked against them by tests/files/test_tables.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String, column, select, table

from hameau.errors import HameauError
from hameau.node.engine import UTCDateTime

HOUSEHOLD = "household"

sync_entries = table(
    "sync_entries",
    column("space", String), column("path", String), column("vector", JSON),
    column("blob", String), column("seq", BigInteger),
)  # fmt: skip
file_entries = table("file_entries", column("blob", String), column("modified_at", UTCDateTime))
file_versions = table("file_versions", column("blob", String), column("created_at", UTCDateTime))


class StoreNotMounted(HameauError):
    status = 503


def space_key(owner_id: int | None) -> str:
    return HOUSEHOLD if owner_id is None else f"member:{owner_id}"


def owner_id(space: str, member_id: int) -> int | None:
    """Whose files a space of a satellite's member is ("household": nobody's)."""
    return member_id if space == "mine" else None


def changed_paths(connection: Any, owner_id: int | None, since: int) -> set[str]:
    """The paths of a space changed after sequence ``since``."""
    query = select(sync_entries.c.path).where(
        sync_entries.c.space == space_key(owner_id), sync_entries.c.seq > since
    )
    return set(connection.scalars(query))


def conflict_copies(connection: Any, owner_id: int | None) -> list[str]:
    """The conflict copies of a space still there."""
    query = select(sync_entries.c.path).where(
        sync_entries.c.space == space_key(owner_id), sync_entries.c.blob.is_not(None)
    )
    return [path for path in connection.scalars(query) if "(conflit " in path]


def vectors(connection: Any, owner_id: int | None, paths: list[str]) -> dict[str, dict[str, int]]:
    """The version vector of each of these paths the journal has."""
    found: dict[str, dict[str, int]] = {}
    for start in range(0, len(paths), 500):
        query = select(sync_entries.c.path, sync_entries.c.vector).where(
            sync_entries.c.space == space_key(owner_id),
            sync_entries.c.path.in_(paths[start : start + 500]),
        )
        found |= {path: dict(vector) for path, vector in connection.execute(query)}
    return found


def store_problem(connection: Any, store: Any) -> StoreNotMounted | None:
    """Why sync must not run with this content store, if it must not: it has lost its
    marker file and most of the content its database refers to (an unmounted disk, a lost
    folder; new content written there since does not make it the store it was)."""
    if store.has_marker():
        return None
    written: dict[str, datetime] = {}  # each content referred to, and when it was written
    rows = connection.execute(
        select(file_entries.c.blob, file_entries.c.modified_at).where(
            file_entries.c.blob.is_not(None)
        )
    ).all()
    for digest, when in [*rows, *connection.execute(select(file_versions))]:
        if digest and (digest not in written or when < written[digest]):
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

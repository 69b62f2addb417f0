"""The files journal: for every file path of every space, its version vector and content
(or a tombstone), with a sequence number that grows on each change.

Sequence numbers are unique and strictly increasing, and a number is visible only once
its writer commits after every smaller one: they come from a one-row counter whose update
holds the database's write lock until the transaction ends (SQLite's single writer, a row
lock on PostgreSQL). So "every change after N", a page at a time, never skips one.

The store writes it on every change, whatever the door (pages, API, WebDAV), so a
satellite can ask "what changed since sequence N" and reconcile with `files.merge`.
Tombstones stay when the trash is purged: a copy that was away for months must still learn
that a file was deleted, not bring it back.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    Row,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.dml import Insert

from hameau.files.merge import FileState, bumped
from hameau.files.tables import HOUSEHOLD as HOUSEHOLD  # re-exported (files/check.py)
from hameau.files.tables import space_key
from hameau.node.db import Base, UTCDateTime, utcnow, write_lock
from hameau.node.models import NodeInfo


class SyncEntry(Base):
    __tablename__ = "sync_entries"
    __table_args__ = (UniqueConstraint("space", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space: Mapped[str] = mapped_column(String(40))  # "household" or "member:<id>"
    path: Mapped[str] = mapped_column(String(4000))
    vector: Mapped[dict[str, int]] = mapped_column(JSON)
    blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, index=True, unique=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncSequence(Base):
    """One row: the last sequence number handed out."""

    __tablename__ = "sync_sequence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


def replica(session: Session) -> str:
    """This node's name in version vectors: its node id, from the public key on record."""
    cached = session.info.get("hameau.replica")
    if cached is None:  # kept with the database connection too: a key never changes
        kept = session.connection().info
        cached = kept.get("hameau.replica")
        if cached is None:
            public_key = session.scalar(select(NodeInfo.public_key))
            digest = hashlib.sha256(base64.b64decode(public_key or "")).digest()[:10]
            cached = kept["hameau.replica"] = base64.b32encode(digest).decode().lower()
        session.info["hameau.replica"] = cached
    return str(cached)


_JOURNAL = cast(Table, SyncEntry.__table__)
_COUNTER = cast(Table, SyncSequence.__table__)
_TAKE = (  # built once: every write asks it
    update(_COUNTER)
    .where(_COUNTER.c.id == 1)
    .values(value=_COUNTER.c.value + bindparam("count"))
    .returning(_COUNTER.c.value)
)


# In a session's `info` once it changed the journal (see `_reserve`).
CHANGED = "hameau.files.journal.changed"


def _reserve(session: Session, count: int = 1) -> int:
    """The first of ``count`` new sequence numbers, taken in one statement that also takes
    the write lock (held to the end of the transaction: no one commits a number in between).
    The session is marked as having changed the journal (`CHANGED`), for whoever watches
    commits: the rows are written by statements, which no ORM flush event sees."""
    session.info[CHANGED] = True
    counter = cast(Table, SyncSequence.__table__)
    for _attempt in range(2):
        last = session.execute(_TAKE, {"count": count}).scalar_one_or_none()
        if last is not None:
            return int(last) - count + 1
        try:  # a journal made before the counter existed: start it above what is there
            with session.begin_nested():
                highest = session.scalar(select(func.coalesce(func.max(SyncEntry.seq), 0)))
                session.execute(insert(counter).values(id=1, value=int(highest or 0)))
        except IntegrityError:
            continue  # another writer started it first
    raise RuntimeError("the files journal's sequence counter could not be started")


_NEW_ROWS: dict[tuple[str, object], Insert] = {}


def new_row(session: Session, model: type[Base] | Table) -> Insert:
    """An INSERT of ``model`` that adds nothing where a unique key has the row already
    (instead of a savepoint to catch the error in: SQLite and PostgreSQL both say it so).
    Built once per database kind."""
    dialect = session.get_bind().dialect.name
    statement = _NEW_ROWS.get((dialect, model))
    if statement is None:
        # The database's own dialect only: importing PostgreSQL's costs a SQLite node 2 MB.
        module = importlib.import_module(f"sqlalchemy.dialects.{dialect}")
        insert_of = module.insert
        statement = _NEW_ROWS[(dialect, model)] = insert_of(model).on_conflict_do_nothing()
    return statement


def _find(session: Session, space: str, path: str) -> SyncEntry | None:
    return session.scalar(select(SyncEntry).where(SyncEntry.space == space, SyncEntry.path == path))


_ROW = select(SyncEntry.id, SyncEntry.vector, SyncEntry.blob).where(
    SyncEntry.space == bindparam("space"), SyncEntry.path == bindparam("path")
)  # built once: every write asks it


def _set(session: Session, space: str, path: str, blob: str | None, size: int) -> None:
    """Statements, not loaded rows: a file's write touches its journal row once (a row of
    this path loaded in the session is kept in step by the ORM-enabled UPDATE)."""
    for _attempt in range(2):
        found = session.execute(_ROW, {"space": space, "path": path}).first()
        if found is not None and found.blob == blob:
            return  # the same content again, or deleted again: nothing changed
        vector = bumped(dict(found.vector) if found is not None else {}, replica(session))
        values = {"vector": vector, "blob": blob, "size": size, "seq": _reserve(session),
                  "updated_at": utcnow()}  # fmt: skip
        if found is not None:
            session.execute(update(SyncEntry).where(SyncEntry.id == found.id).values(**values))
            return
        # the table's own INSERT with parameters: no statement to build for each write
        added = session.execute(
            new_row(session, _JOURNAL), {"space": space, "path": path, **values}
        )
        if added.rowcount:  # type: ignore[attr-defined]
            return
        # another writer recorded this path first: update theirs
    raise RuntimeError(f"could not record {space}:{path} in the files journal")


def wrote(session: Session, owner_id: int | None, path: str, blob: str, size: int) -> None:
    _set(session, space_key(owner_id), path, blob, size)


def wrote_many(session: Session, owner_id: int | None, written: list[tuple[str, str, int]]) -> None:
    """`wrote` for many (path, blob, size) at once (an import): the paths new to the journal
    in one reservation and one statement, the others one by one as `wrote` does."""
    space = space_key(owner_id)
    there: set[str] = set()
    paths = [path for path, _blob, _size in written]
    for start in range(0, len(paths), 500):
        chunk = paths[start : start + 500]
        query = select(SyncEntry.path).where(SyncEntry.space == space, SyncEntry.path.in_(chunk))
        there.update(session.scalars(query))
    fresh = [item for item in written if item[0] not in there]
    for path, blob, size in written:
        if path in there:
            _set(session, space, path, blob, size)
    if not fresh:
        return
    first, now, vector = _reserve(session, len(fresh)), utcnow(), bumped({}, replica(session))
    rows = [
        {"space": space, "path": path, "vector": vector, "blob": blob, "size": size,
         "seq": first + number, "updated_at": now}
        for number, (path, blob, size) in enumerate(fresh)
    ]  # fmt: skip
    session.execute(new_row(session, _JOURNAL), rows)


def deleted(session: Session, owner_id: int | None, path: str) -> None:
    _set(session, space_key(owner_id), path, None, 0)


def adopt(
    session: Session,
    owner_id: int | None,
    path: str,
    vector: dict[str, int],
    blob: str | None,
    size: int,
) -> None:
    """Record a state reached by sync exactly as reconciled (its vector is not bumped here)."""
    space = space_key(owner_id)
    entry = _find(session, space, path)
    seq = _reserve(session)
    if entry is None:
        entry = SyncEntry(space=space, path=path, vector=vector, blob=blob, size=size, seq=seq)
        session.add(entry)
    entry.vector, entry.blob, entry.size = dict(vector), blob, size
    entry.seq, entry.updated_at = seq, utcnow()
    session.flush()


def adopt_many(
    session: Session, owner_id: int | None, entries: list[tuple[str, FileState, int]]
) -> None:
    """Record many paths new to this journal, each at its reconciled state, in one statement."""
    if not entries:
        return
    space, now = space_key(owner_id), utcnow()
    first = _reserve(session, len(entries))
    session.execute(
        insert(SyncEntry),
        [
            {"space": space, "path": path, "vector": dict(state.vector), "blob": state.blob,
             "size": size, "seq": first + number, "updated_at": now}
            for number, (path, state, size) in enumerate(entries)
        ],
    )  # fmt: skip


_READOPT = (  # built once: a re-sync sets hundreds of rows with it
    update(_JOURNAL)
    .where(_JOURNAL.c.id == bindparam("b_id"))
    .values(vector=bindparam("b_vector"), blob=bindparam("b_blob"), size=bindparam("b_size"),
            seq=bindparam("b_seq"), updated_at=bindparam("b_at"))
)  # fmt: skip


def readopt_many(session: Session, found: Sequence[tuple[Known, FileState, int]]) -> None:
    """Set many paths this journal knows (their rows, loaded) to their reconciled states,
    each with a new sequence number, as `adopt` does one by one: in one statement run for
    them all, not the ORM's unit of work (the loaded rows are expired, read again if used)."""
    if not found:
        return
    session.flush()
    first, now = _reserve(session, len(found)), utcnow()
    session.execute(_READOPT, [
        {"b_id": entry.id, "b_vector": dict(state.vector), "b_blob": state.blob, "b_size": size,
         "b_seq": first + number, "b_at": now}
        for number, (entry, state, size) in enumerate(found)
    ])  # fmt: skip
    for entry, _state, _size in found:
        if isinstance(entry, SyncEntry):
            session.expire(entry)


def _in_space(owner_id: int | None) -> Any:
    """The space's rows, as an expression SQLite does not look up by: it then walks the seq
    index from the cursor (recent rows only), not the (space, path) index (the whole space)."""
    return SyncEntry.space.concat("") == space_key(owner_id)


def states(
    session: Session, owner_id: int | None, wanted: list[str], *, to_set: bool = False
) -> dict[str, SyncEntry]:
    """The journal rows of these paths; ``to_set``: read to be compared, then set in this
    transaction (sync's compare-and-set), on SQLite under the write lock (`node.db.write_lock`),
    so that no write commits between the compare and the set."""
    if to_set:
        write_lock(session)
    found: dict[str, SyncEntry] = {}
    space = space_key(owner_id)
    # A path with a NUL is never recorded (names hold no control character), and PostgreSQL
    # refuses it even in a query: it is looked up as absent, then refused as a name.
    wanted = [path for path in wanted if "\x00" not in path]
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = select(SyncEntry).where(SyncEntry.space == space, SyncEntry.path.in_(chunk))
        for entry in session.scalars(query):
            found[entry.path] = entry
    return found


Known = SyncEntry | Row[Any]  # a path's journal row: loaded, or read as a row (`rows`)
_ROWS = select(*(_JOURNAL.c[name] for name in ("id", "path", "vector", "blob", "size", "seq")))


def rows(
    session: Session, owner_id: int | None, wanted: list[str], *, to_set: bool = False
) -> dict[str, Row[Any]]:
    """`states` as plain rows (id, path, vector, blob, size, seq): read for hundreds of
    paths each round of a sync, where loading each as an object cost more than the query."""
    if to_set:
        write_lock(session)
    found: dict[str, Row[Any]] = {}
    space = space_key(owner_id)
    session.flush()  # as a query through the session would
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = _ROWS.where(_JOURNAL.c.space == space, _JOURNAL.c.path.in_(chunk))
        found.update((row.path, row) for row in session.execute(query))
    return found


def rows_since(session: Session, owner_id: int | None, seq: int) -> list[Row[Any]]:
    """`changes_since` as plain rows (id, path, vector, blob, size, seq), oldest first."""
    session.flush()
    query = _ROWS.where(_JOURNAL.c.space.concat("") == space_key(owner_id), _JOURNAL.c.seq > seq)
    return list(session.execute(query.order_by(_JOURNAL.c.seq)))


def state(session: Session, owner_id: int | None, path: str) -> FileState | None:
    entry = session.scalar(
        select(SyncEntry).where(SyncEntry.space == space_key(owner_id), SyncEntry.path == path)
    )
    return None if entry is None else FileState(dict(entry.vector), entry.blob)


def changes_since(
    session: Session, owner_id: int | None, seq: int, limit: int | None = None
) -> list[SyncEntry]:
    query = (
        select(SyncEntry).where(_in_space(owner_id), SyncEntry.seq > seq).order_by(SyncEntry.seq)
    )
    return list(session.scalars(query if limit is None else query.limit(limit)))

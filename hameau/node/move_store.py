"""`hameau move-store`: an existing node's database moved to PostgreSQL and/or its content to
an S3 object store, verified, resumable after a kill at any point, switched over only once
everything is verified (docs/scale.md, "Moving a node to PostgreSQL and S3").

The rules:
- The node is stopped (every `hameau serve` holds the data dir's `serving.lock` shared; a move
  holds it exclusively, so neither starts while the other runs).
- Content first: every stored blob is read from the old store (hashed as it is read), written
  to the new one under its hash (refused if it hashes otherwise), then read back from the new
  store and hashed again; only then is it written in `move-store.blobs` (done, skipped by a
  run that resumes).
- Then the tables, in the order of their foreign keys, in batches of ``batch`` rows, each
  batch one transaction of the new database. The new database itself says where a table is
  at (its last primary key), so a batch is never copied twice nor skipped. Triggers are off
  while rows come in (the quota's counters are copied, not counted again), sequences are set
  after. The schema is made by the same Alembic migrations (alembic_version set).
- The search index is copied last (its rows are upserts: a batch done twice is harmless).
- Every table's rows are counted on both sides; only then is `hameau.toml` switched to the new
  engines, and `move-store.json` marked done. The old database and content are left as they
  were, for the admin to delete once they have checked the node.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, func, select, text, tuple_

from hameau.node import migrate
from hameau.node.blobs import BlobDamaged, BlobError, BlobStore
from hameau.node.engine import make_engine
from hameau.node.serve import holding

PROGRESS = "move-store.json"
DONE_BLOBS = "move-store.blobs"
SKIPPED = ("alembic_version", "search_index")  # made by the migrations; the index copied apart
S3_OPTIONS = ("s3_endpoint", "s3_region", "s3_access_key")

Say = Callable[[str], None]
# (target database session-less connection, rows of the old index) -> None: writes them.
SearchCopier = Callable[[Any, list[dict[str, Any]]], None]


class MoveRefused(Exception):
    """The move cannot start or go on; the message is one line saying what to do."""


@dataclass
class Target:
    """Where the node goes: a PostgreSQL URL and/or an S3 store (with its endpoint, keys)."""

    database: str = ""
    blobs: str = ""
    s3: dict[str, str] = field(default_factory=dict)

    def same_as(self, other: dict[str, Any]) -> bool:
        return (self.database, self.blobs, self.s3) == (
            other.get("database", ""), other.get("blobs", ""), other.get("s3", {})
        )  # fmt: skip


# ------------------------------------------------------------------ progress on the disk


def _progress(root: Path) -> dict[str, Any]:
    path = root / PROGRESS
    return json.loads(path.read_text()) if path.is_file() else {}


def _save_progress(root: Path, progress: dict[str, Any]) -> None:
    """Written whole to a temp file, fsynced, renamed: a kill leaves the old or the new."""
    temp = root / (PROGRESS + ".tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(progress, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, root / PROGRESS)


def _done_blobs(root: Path) -> set[str]:
    path = root / DONE_BLOBS
    if not path.is_file():
        return set()
    return {line for line in path.read_text().split("\n") if len(line) == 64}  # a cut line: not


# ------------------------------------------------------------------ content


def copy_blobs(old: BlobStore, new: BlobStore, root: Path, say: Say) -> int:
    """Every blob of the old store into the new one, verified there; returns how many."""
    done = _done_blobs(root)
    waiting = sorted(set(old.stored()) - done)
    if done:
        say(f"Content: {len(done)} already moved, {len(waiting)} to go.")
    with (root / DONE_BLOBS).open("a") as journal:
        for number, digest in enumerate(waiting, 1):
            _copy_blob(old, new, digest)
            journal.write(digest + "\n")
            journal.flush()
            os.fsync(journal.fileno())
            if number % 20 == 0 or number == len(waiting):
                say(f"Content: {number}/{len(waiting)} moved and verified.")
    return len(done) + len(waiting)


def _copy_blob(old: BlobStore, new: BlobStore, digest: str) -> None:
    try:
        with old.open_verified(digest) as reading, new.writer() as writer:
            while chunk := reading.read(1 << 20):
                writer.write(chunk)
            writer.commit(expect=digest)
    except BlobDamaged as damaged:
        raise MoveRefused(
            f"Content {digest} is {damaged.reason} in the old store: run `hameau check"
            " --repair`, then move-store again."
        ) from None
    problem = new.verify(digest)
    if problem is not None:
        raise MoveRefused(f"Content {digest} is {problem} once in the new store; run again.")


# ------------------------------------------------------------------ tables


def _key(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


def _last_key(engine: Engine, table: Table) -> tuple[Any, ...] | None:
    """Where the new database's copy of ``table`` is at: its greatest primary key."""
    columns = _key(table)
    query = select(*columns).order_by(*(column.desc() for column in columns)).limit(1)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return None if row is None else tuple(row)


def copy_table(old: Engine, new: Engine, table: Table, batch: int, say: Say) -> int:
    """The rows of ``table`` the new database lacks, in primary-key order, a batch per
    transaction; returns how many were copied."""
    columns = _key(table)
    last = _last_key(new, table)
    copied = 0
    while True:
        query = select(table).order_by(*columns).limit(batch)
        if last is not None:
            query = query.where(tuple_(*columns) > tuple_(*last))
        with old.connect() as reading:
            rows = [dict(row._mapping) for row in reading.execute(query)]
        if not rows:
            break
        with new.begin() as writing:
            writing.execute(table.insert(), rows)
        copied += len(rows)
        last = tuple(rows[-1][column.key] for column in columns)
    if copied:
        say(f"Table {table.name}: {copied} row(s) copied.")
    return copied


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _user_triggers(new: Engine, enabled: bool) -> None:
    """Turn the new database's own triggers (the quota's counters) off while rows come in,
    back on after: the counters are copied as they were, not counted a second time."""
    with new.begin() as connection:
        tables = connection.execute(
            text("SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal")
        ).scalars()
        for name in list(tables):
            state = "ENABLE" if enabled else "DISABLE"
            connection.execute(text(f'ALTER TABLE "{name}" {state} TRIGGER USER'))


def _set_sequences(new: Engine, tables: list[Table]) -> None:
    """Each table's id sequence after its greatest id: the next row made gets a new one."""
    with new.begin() as connection:
        for table in tables:
            columns = _key(table)
            if len(columns) != 1 or not columns[0].autoincrement:
                continue
            sequence = connection.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": columns[0].name},
            ).scalar()
            if sequence:
                connection.execute(
                    text(f'SELECT setval(:seq, (SELECT COALESCE(MAX("{columns[0].name}"), 0)'  # noqa: S608
                         f' + 1 FROM "{table.name}"), false)'),
                    {"seq": sequence},
                )  # fmt: skip


def _empty_or_refuse(url: str) -> None:
    """A move goes only to a database that holds no node."""
    engine = make_engine(url)
    try:
        if migrate.current_revision(engine) is not None:
            raise MoveRefused(
                "The database --database names holds a node already; give an empty one."
            )
    finally:
        engine.dispose()


def _prepare_database(
    new: Engine, tables: list[Table], progress: dict[str, Any], root: Path
) -> None:
    """The schema made by the migrations on a database that held no node, emptied of the
    rows the migrations may seed (once: a resumed move keeps what it copied)."""
    if progress.get("schema"):
        return
    if not progress.get("started_schema"):
        _empty_or_refuse(str(new.url.render_as_string(hide_password=False)))
        progress["started_schema"] = True  # from now on, what is there is this move's
        _save_progress(root, progress)
    migrate.upgrade(new)
    with new.begin() as connection:
        for table in reversed(tables):
            connection.execute(table.delete())
    progress["schema"] = True
    _save_progress(root, progress)


def copy_search(old: Engine, new: Engine, copier: SearchCopier, progress: dict[str, Any],
                root: Path, batch: int) -> None:  # fmt: skip
    """The search index's rows (an FTS5 table on SQLite), written by the search's own code on
    the new database; where it is at is kept in the progress file (rows are upserts)."""
    query = "SELECT rowid, kind, ref, owner_id, title, body FROM search_index"
    last = progress.get("search_after")
    while True:
        where = "" if last is None else f" WHERE rowid > {int(last)}"
        with old.connect() as reading:
            rows = [dict(row._mapping) for row in reading.execute(
                text(f"{query}{where} ORDER BY rowid LIMIT {int(batch)}"))]  # fmt: skip
        if not rows:
            return
        with new.begin() as writing:
            copier(writing, rows)
        last = progress["search_after"] = rows[-1]["rowid"]
        _save_progress(root, progress)


# ------------------------------------------------------------------ the move


@dataclass
class Move:
    """One run of `hameau move-store` on a stopped node."""

    node: Any  # an opened Node (hameau.node.datadir)
    target: Target
    metadata: MetaData  # every table of the node (the assembly gathers them)
    search: SearchCopier | None = None
    batch: int = 500
    say: Say = print

    @property
    def root(self) -> Path:
        return Path(self.node.layout.root)

    def run(self) -> None:
        progress = self._begin()
        if self.target.blobs:
            new_store = self.node.store_at(self.target.blobs, self._s3_settings())
            if not new_store.has_marker():
                new_store.write_marker()
            moved = copy_blobs(self.node.blobs, new_store, self.root, self.say)
            self.say(f"Content: all {moved} stored file content(s) are in {new_store.location}.")
        if self.target.database:
            self._move_database(progress)
        self._switch(progress)

    def _begin(self) -> dict[str, Any]:
        progress = _progress(self.root)
        settings = self.node.settings
        if self.target.database and self.target.database == settings.database_url:
            raise MoveRefused("The node's database is there already: leave --database out.")
        if self.target.blobs and self.target.blobs == settings.blob_store:
            raise MoveRefused("The node's content is there already: leave --blobs out.")
        if progress and not self.target.same_as(progress):
            raise MoveRefused(
                f"Another move is in progress ({PROGRESS} in the data dir): run it again with"
                f" the same options, or delete {PROGRESS} and {DONE_BLOBS} to start over."
            )
        if self.target.database and not progress.get("started_schema"):
            _empty_or_refuse(self.target.database)  # before hours of content are copied
        if not progress:
            progress = {"database": self.target.database, "blobs": self.target.blobs,
                        "s3": self.target.s3, "state": "copying"}  # fmt: skip
            _save_progress(self.root, progress)
        return progress

    def _s3_settings(self) -> Any:
        from types import SimpleNamespace

        settings = self.node.settings
        values = {name: self.target.s3.get(name, getattr(settings, name)) for name in S3_OPTIONS}
        return SimpleNamespace(**values, s3_secret_key=settings.s3_secret_key)

    def _move_database(self, progress: dict[str, Any]) -> None:
        old, new = self.node.engine, make_engine(self.target.database)
        try:
            tables = [table for table in self.metadata.sorted_tables if table.name not in SKIPPED]
            _prepare_database(new, tables, progress, self.root)
            _user_triggers(new, enabled=False)
            for table in tables:
                copy_table(old, new, table, self.batch, self.say)
            if self.search is not None:
                copy_search(old, new, self.search, progress, self.root, self.batch)
            _set_sequences(new, tables)
            for table in tables:
                if _count(old, table) != _count(new, table):
                    raise MoveRefused(f"Table {table.name} differs once copied; run again.")
            _user_triggers(new, enabled=True)
            self.say(f"Database: {len(tables)} tables copied and counted.")
        finally:
            new.dispose()

    def _switch(self, progress: dict[str, Any]) -> None:
        """Everything verified: the settings name the new engines."""
        changes = {}
        if self.target.database:
            changes["database_url"] = self.target.database
        if self.target.blobs:
            changes = {**changes, "blob_store": self.target.blobs, **self.target.s3}
        write_settings(self.root / "hameau.toml", changes)
        progress["state"] = "done"
        _save_progress(self.root, progress)


def write_settings(path: Path, changes: dict[str, str]) -> None:
    """Set options of the [node] section of a hameau.toml, keeping its other lines."""
    lines = path.read_text().splitlines() if path.is_file() else []
    if "[node]" not in (line.strip() for line in lines):
        lines = ["[node]", *lines] if not lines else [*lines, "", "[node]"]
    start = [line.strip() for line in lines].index("[node]") + 1
    end = next(
        (at for at in range(start, len(lines)) if lines[at].strip().startswith("[")), len(lines)
    )
    for name, value in changes.items():
        line = f"{name} = {json.dumps(value)}"
        found = [at for at in range(start, end) if lines[at].split("=")[0].strip() == name]
        if found:
            lines[found[0]] = line
        else:
            lines.insert(end, line)
            end += 1
    temp = path.with_suffix(".tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def target_for(
    settings: Any, database: str, blobs: str, endpoint: str | None, region: str | None,
    access_key: str | None,
) -> Target:  # fmt: skip
    """The move's target from the command's options; ValueError (one line) if unusable."""
    from hameau.config_values import database_url as _database_url

    if not database and not blobs:
        raise ValueError("Give --database postgresql://… and/or --blobs s3://bucket/prefix.")
    if database:
        try:
            database = _database_url(database)
        except ValueError:
            database = ""
        if not database.startswith("postgresql+psycopg://"):
            raise ValueError("--database must be postgresql://user:password@host:port/name.")
    if blobs and (not blobs.startswith("s3://") or not blobs[5:].strip("/")):
        raise ValueError("--blobs must be s3://bucket or s3://bucket/prefix.")
    given = {"s3_endpoint": endpoint, "s3_region": region, "s3_access_key": access_key}
    s3 = {name: value for name, value in given.items() if value is not None and blobs}
    return Target(database, blobs.rstrip("/"), s3)


def finished(root: Path, target: Target) -> bool:
    """Whether this very move is done already (the settings name its engines)."""
    progress = _progress(root)
    return progress.get("state") == "done" and target.same_as(progress)


__all__ = ["BlobError", "Move", "MoveRefused", "Target", "finished", "holding", "write_settings"]

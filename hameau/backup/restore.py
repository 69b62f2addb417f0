"""Restore after losing the disk: the latest backup of a target into a new, empty data dir.

Everything is restored into a hidden folder beside the new data dir; the database snapshot
is put in place of the live database, checked (SQLite's integrity check, then opened as a
node), and only then is the folder renamed to the data dir. A failure on the way (a damaged
repository, a wrong password) removes the hidden folder: never a half-restored data dir that
looks good. A neighbour's target is reached as the lost node (its identity and the neighbour's
pinned key come from the recovery sheet), by a temporary node used only for that.

A node that was on PostgreSQL is restored to PostgreSQL: its dump goes, with pg_restore in
one transaction, into an empty database (`--database URL`, written into the restored
hameau.toml; by default the one that file names), never into SQLite (the two schemas'
PostgreSQL-only parts, search and the quota's triggers, do not carry over as data)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hameau.backup import content, key, mirror, targets
from hameau.backup.restic import Restic
from hameau.backup.sheet import Sheet
from hameau.backup.target import Target
from hameau.config import Settings, load_settings
from hameau.errors import BadRequest
from hameau.node import datadir, migrate
from hameau.node.blobs import load_store
from hameau.node.db import make_engine, make_sessionmaker, transaction
from hameau.node.identity import create_secret, load_identity
from hameau.node.models import NodeInfo


@dataclass
class Restored:
    data_dir: Path
    snapshot_id: str
    taken_at: datetime  # when the backup was made
    contents: int = 0  # contents put back, each hash verified
    store: str = ""  # where they are, in words for the admin

    def lost_minutes(self, now: datetime | None = None) -> int:
        return max(0, int(((now or datetime.now(UTC)) - self.taken_at).total_seconds() // 60))


def _when(text: str) -> datetime:
    """restic's time (nanoseconds, a zone) as a datetime."""
    text = re.sub(r"(\.\d{6})\d*", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text).astimezone(UTC)


def _bootstrap(sheet: Sheet, root: Path) -> datadir.Node:
    """A node with the lost node's identity and the neighbours it paired with: enough to
    reach a neighbour's target as itself (it is thrown away after the restore)."""
    from hameau.hamlet import service as hamlet

    if not sheet.node_key.strip():
        raise BadRequest(
            "The recovery sheet has no key of the home server; a neighbour's backup is restored with the"
            " sheet that was printed for it (--sheet FILE)."
        )
    layout = datadir.Layout(root)
    root.mkdir(mode=0o700, parents=True)
    descriptor = os.open(layout.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(sheet.node_key.strip() + "\n")
    create_secret(layout.secret_file)
    identity = load_identity(layout.key_file)
    engine = make_engine(layout.database_url)
    migrate.upgrade(engine)
    with transaction(make_sessionmaker(engine)) as session:
        session.add(
            NodeInfo(id=1, name=sheet.node_name or "restore", public_key=identity.public_key_b64)
        )
        for peer in sheet.peers.values():
            if not peer.public_key:
                continue  # the sheet was printed before the pairing: not reachable as itself
            hamlet.pin(session, peer.public_key, peer.name, peer.address, peer.certificate or None)
    engine.dispose()
    return datadir.open_node(Settings(data_dir=root))


@contextmanager
def _target(spec: str, sheet: Sheet, scratch: Path) -> Iterator[Target]:
    if not spec.startswith(targets.PEER):
        yield targets.parse(None, spec)  # type: ignore[arg-type]  # a folder needs no node
        return
    node = _bootstrap(sheet, scratch)
    try:
        yield targets.parse(node, spec)
    finally:
        node.close()


def _fetch(spec: str, sheet: Sheet, work: Path, tree: Path) -> tuple[str, datetime]:
    """The latest backup restored into `tree`; its id and time."""
    password = work / "password"
    key.write_key_file(password, sheet.password)
    with _target(spec, sheet, work / "node") as target, target.open() as repository:
        restic = Restic(repository, password, target.label)
        found = restic.json(["snapshots", "--tag", "hameau"]) or []
        if not found:
            raise BadRequest(
                "There is no backup of a home server at %(where)s; give another target.",
                where=target.label,
            )
        latest = max(found, key=lambda snapshot: _when(snapshot["time"]))
        restic.run(["restore", latest["id"], "--target", str(tree)])
    return latest["id"], _when(latest["time"])


def _put_database_in_place(tree: Path, database: str | None) -> str | None:
    """The snapshot in place of the live database: SQLite's file, or PostgreSQL's dump
    restored into its (empty) database; that database's URL (None: SQLite)."""
    layout = datadir.Layout(tree)
    snapshot = content.staging(layout) / content.SNAPSHOT
    dump = content.staging(layout) / content.PG_SNAPSHOT
    url = None
    if snapshot.is_file():
        snapshot.replace(layout.database)
    elif dump.is_file():
        url = _into_postgresql(tree, dump, database)
    else:
        raise BadRequest(
            "This backup holds no database snapshot, so it is not a home server's backup;"
            " give another target."
        )
    content.clear_staging(layout)
    for name in ("excluded.txt", "run.lock"):
        (key.folder(layout) / name).unlink(missing_ok=True)
    return url


def _name_database(tree: Path, url: str, option: str = "database_url") -> None:
    """`option` (`database_url`) in the restored hameau.toml set to `url` (the rest left as
    it was)."""
    path = tree / "hameau.toml"
    lines = path.read_text().splitlines() if path.is_file() else []
    line = f"{option} = {json.dumps(url)}"
    kept = [each for each in lines if each.strip().partition("=")[0].strip() != option]
    if "[node]" not in (each.strip() for each in kept):
        kept = ["[node]", *kept]
    at = [each.strip() for each in kept].index("[node]") + 1
    path.write_text("\n".join([*kept[:at], line, *kept[at:]]) + "\n")
    os.chmod(path, 0o600)  # it may hold the database's password


def _into_postgresql(tree: Path, dump: Path, database: str | None) -> str:
    if database:
        _name_database(tree, database)
    url = load_settings(tree).database_url
    if not url or url.startswith("sqlite"):
        raise BadRequest(
            "This backup is of a home server on PostgreSQL; give the empty database to restore it"
            " into (--database postgresql+psycopg://USER@HOST/NAME)."
        )
    engine = make_engine(url)
    try:
        if migrate.current_revision(engine) is not None:
            raise BadRequest(
                "The database to restore into holds a home server already; give an empty database"
                " (--database URL)."
            )
    finally:
        engine.dispose()
    done = subprocess.run(
        [content.pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction",
         "--exit-on-error", "--dbname", str(content.pg_environment(url).get("PGDATABASE", "")),
         str(dump)],
        env=content.pg_environment(url), capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise BadRequest(
            "pg_restore could not restore the database (%(reason)s), so nothing was restored.",
            reason=(done.stderr.strip().splitlines() or ["no message"])[-1][:200],
        )
    return url


def _put_content_in_place(tree: Path, blobs: str | None) -> tuple[int, str]:
    """The restored content into the store the admin chose (`blobs`: local or s3://…, written
    into hameau.toml; by default the one that file names), each hash verified; how many, and
    where. An S3 store's endpoint and keys come from hameau.toml and HAMEAU_S3_* variables."""
    found = mirror.restored_content(tree)
    if blobs:
        _name_database(tree, blobs, "blob_store")
    settings = load_settings(tree)
    if blobs and blobs.startswith("s3://"):
        for option in ("s3_endpoint", "s3_region", "s3_access_key"):
            _name_database(tree, getattr(settings, option), option)
    try:
        store = load_store(settings.blob_store, tree / "blobs", settings)
    except ValueError as error:
        raise BadRequest(
            "The content store cannot be used (%(reason)s); give --blobs local or"
            " --blobs s3://bucket/prefix.",
            reason=str(error),
        ) from None
    count = 0
    if found is not None:
        source, is_mirror = found
        count = mirror.put_back(source, store, consume=is_mirror or store.local_folder() is None)
    shutil.rmtree(mirror.mirror_folder(datadir.Layout(tree)), ignore_errors=True)
    if store.local_folder() is None:
        shutil.rmtree(tree / "blobs", ignore_errors=True)  # the spool of an S3 store: made again
        (tree / "blobs").mkdir(mode=0o700)
    if not store.has_marker():
        store.write_marker()
    return count, store.location


def _check_database(tree: Path, snapshot_id: str, taken_at: datetime, url: str | None) -> None:
    """Integrity first; then the run that made this backup (in the snapshot it is still
    running) is written down as what it was: the good backup it was restored from."""
    finished = taken_at.replace(tzinfo=None).isoformat(sep=" ")
    if url is not None:  # PostgreSQL checks its own pages; the dump restored in one transaction
        engine = make_engine(url)
        with engine.begin() as on_postgresql:
            on_postgresql.exec_driver_sql(
                "UPDATE backup_runs SET outcome = 'ok', snapshot_id = %(id)s, finished_at ="
                " %(at)s WHERE outcome = 'running'",
                {"id": snapshot_id[:64], "at": finished},
            )
        engine.dispose()
        datadir.open_node(load_settings(tree)).close()
        return
    database = datadir.Layout(tree).database
    connection = sqlite3.connect(database)
    try:
        if connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BadRequest(
                "The database in this backup is damaged, so nothing was restored; restore"
                " from another backup target."
            )
        with connection:
            connection.execute(
                "UPDATE backup_runs SET outcome = 'ok', snapshot_id = ?, finished_at = ?"
                " WHERE outcome = 'running'",
                (snapshot_id[:64], finished),
            )
    finally:
        connection.close()
    datadir.open_node(Settings(data_dir=tree)).close()  # opens: identity, schema up to date


def restore(
    spec: str, data_dir: Path, sheet: Sheet, database: str | None = None,
    blobs: str | None = None,
) -> Restored:  # fmt: skip
    data_dir = data_dir.expanduser().resolve()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BadRequest(
            "%(path)s is not empty; restore into a new, empty folder.", path=str(data_dir)
        )
    if not sheet.password:
        raise BadRequest("Give the backup password of the recovery sheet (--sheet FILE).")
    work = data_dir.with_name(f".{data_dir.name}.restoring")
    shutil.rmtree(work, ignore_errors=True)  # what a restore that was stopped left
    work.mkdir(mode=0o700, parents=True)
    try:
        tree = work / "tree"
        snapshot_id, taken_at = _fetch(targets.normalize(spec), sheet, work, tree)
        url = _put_database_in_place(tree, database)
        contents, where = _put_content_in_place(tree, blobs)
        _check_database(tree, snapshot_id, taken_at, url)
        if data_dir.exists():
            data_dir.rmdir()
        tree.rename(data_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Restored(data_dir, snapshot_id, taken_at, contents, where)

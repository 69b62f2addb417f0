"""What a backup holds: the data dir's content (blobs, identity, certificates, settings,
calendars, the backup key) and a consistent snapshot of the database, never the live database
files (a copy of them taken while the node writes may not open).

The snapshot is made with SQLite's online backup API into a temp file of a staging folder
inside the data dir; restic then backs up the data dir with the live database, caches and
temp files left out, so the snapshot is found at `backup/staging/hameau.db` in a backup.

A node on PostgreSQL: the snapshot is `pg_dump --format=custom` (one transaction, so one
consistent snapshot, writers not held up), at `backup/staging/hameau.pgdump`; the database's
password reaches pg_dump through its environment (PGPASSWORD), never its command line."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from hameau.backup.key import folder
from hameau.backup.restic import BackupFailed
from hameau.node.datadir import Layout

SNAPSHOT = "hameau.db"
PG_SNAPSHOT = "hameau.pgdump"
# Debian's pg_wrapper in /usr/bin picks the newest client installed; else the version's own.
PG_BIN = (Path("/usr/bin"), Path("/usr/lib/postgresql/15/bin"))
# Left out, relative to the data dir: the live database (its snapshot goes instead), what can
# be made again (caches, thumbnails, the AI's downloaded models), what is half-written, and the
# neighbours' backups this node keeps for them (`backups/`: theirs, not this household's).
EXCLUDED = (
    "hameau.db", "hameau.db-wal", "hameau.db-shm", "hameau.db-journal",
    "backup/cache", "backup/run.lock", "backup/staging/*.tmp", "backup/restoring*",
    "backup/mirror-lists",
    "blobs/tmp/*", "blobs/quarantine", "cache", "models",
    "calendars/**/.Radicale.cache", "calendars/**/.Radicale.lock",
    "**/*.partial", "**/*.tmp", "backups",
)  # fmt: skip


def staging(layout: Layout) -> Path:
    return folder(layout) / "staging"


def snapshot_database(layout: Layout) -> Path:
    """A consistent copy of the database, written to a temp file then renamed into the
    staging folder: SQLite's online backup API (one read transaction: writers are not held up
    in WAL mode), or pg_dump for a database on PostgreSQL."""
    into = staging(layout)
    into.mkdir(parents=True, mode=0o700, exist_ok=True)
    name = SNAPSHOT if layout.on_sqlite else PG_SNAPSHOT
    final, temp = into / name, into / (name + ".tmp")
    temp.unlink(missing_ok=True)
    if layout.on_sqlite:
        _sqlite_copy(layout.database, temp)
    else:
        _pg_dump(layout.database_url, temp)
    os.chmod(temp, 0o600)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    temp.replace(final)
    return final


def _sqlite_copy(database: Path, temp: Path) -> None:
    source = sqlite3.connect(database, timeout=60)
    try:
        target = sqlite3.connect(temp)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def pg_tool(name: str) -> str:
    for place in PG_BIN:
        if (place / name).exists():
            return str(place / name)
    raise BackupFailed(
        "%(tool)s is not installed, and a home server on PostgreSQL needs it for its backups;"
        " install PostgreSQL's client (apt install postgresql-client).",
        tool=name,
    )


def pg_environment(url: str) -> dict[str, str]:
    """libpq's environment for the database `url` names (its password included: never on a
    command line, which any user of the machine can list)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    given = {
        "PGHOST": parsed.host, "PGPORT": parsed.port, "PGUSER": parsed.username,
        "PGPASSWORD": parsed.password, "PGDATABASE": parsed.database,
        "PGSSLMODE": parsed.query.get("sslmode"),
    }  # fmt: skip
    keep = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return {**keep, **{k: str(v) for k, v in given.items() if v}}


def _pg_dump(url: str, temp: Path) -> None:
    done = subprocess.run(
        [pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(temp)],
        env=pg_environment(url), capture_output=True, text=True, timeout=24 * 3600,
    )  # fmt: skip
    if done.returncode != 0:
        temp.unlink(missing_ok=True)
        last = (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
        raise BackupFailed(
            "pg_dump could not copy the database (%(reason)s); see PostgreSQL's log.", reason=last
        )


def clear_staging(layout: Layout) -> None:
    shutil.rmtree(staging(layout), ignore_errors=True)


def _glob_escaped(path: Path) -> str:
    """The path as a restic pattern matching only itself."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", str(path))


def exclude_file(layout: Layout) -> Path:
    """restic's --exclude-file for this data dir (absolute patterns: only its own paths)."""
    root = _glob_escaped(layout.root.resolve())
    path = folder(layout) / "excluded.txt"
    path.write_text("".join(f"{root}/{pattern}\n" for pattern in EXCLUDED))
    return path

"""What a backup holds: the data dir's content (blobs, identity, certificates, settings,
calendars, the backup key) and a consistent snapshot of the database, never the live database
files (a copy of them taken while the node writes may not open).

The snapshot is made with SQLite's online backup API into a temp file of a staging folder
inside the data dir; restic then backs up the data dir with the live database, caches and
temp files left out, so the snapshot is found at `backup/staging/hameau.db` in a backup."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from pathlib import Path

from hameau.backup.key import folder
from hameau.backup.restic import BackupFailed
from hameau.node.datadir import Layout

SNAPSHOT = "hameau.db"
# Left out, relative to the data dir: the live database (its snapshot goes instead), what can
# be made again (caches, thumbnails, the AI's downloaded models), what is half-written, and the
# neighbours' backups this node keeps for them (`backups/`: theirs, not this household's).
EXCLUDED = (
    "hameau.db", "hameau.db-wal", "hameau.db-shm", "hameau.db-journal",
    "backup/cache", "backup/run.lock", "backup/staging/*.tmp", "backup/restoring*",
    "blobs/tmp/*", "blobs/quarantine", "cache", "models",
    "calendars/**/.Radicale.cache", "calendars/**/.Radicale.lock",
    "**/*.partial", "**/*.tmp", "backups",
)  # fmt: skip


def staging(layout: Layout) -> Path:
    return folder(layout) / "staging"


def snapshot_database(layout: Layout) -> Path:
    """A consistent copy of the database (one read transaction: writers are not held up in
    WAL mode), written to a temp file then renamed into the staging folder. SQLite's only:
    a database on PostgreSQL is refused, so no backup ever lacks its database."""
    if not layout.on_sqlite:
        raise BackupFailed(
            "This home server's database is on PostgreSQL, which hameau does not back up yet:"
            " back it up with PostgreSQL's own tools (pg_dump, base backups)."
        )
    into = staging(layout)
    into.mkdir(parents=True, mode=0o700, exist_ok=True)
    final, temp = into / SNAPSHOT, into / (SNAPSHOT + ".tmp")
    temp.unlink(missing_ok=True)
    source = sqlite3.connect(layout.database, timeout=60)
    try:
        target = sqlite3.connect(temp)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    os.chmod(temp, 0o600)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    temp.replace(final)
    return final


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

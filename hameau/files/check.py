"""`hameau check` and the weekly scrub: is what the node holds what it says it holds?

- the database: SQLite's own `PRAGMA integrity_check` and `foreign_key_check`;
- the content: every blob a file, a trashed file or an earlier version refers to is there,
  hashes to its name, and has the size recorded for it (what quotas count);
- the files journal: each live file is in it with its content, nothing else is, and no two
  changes share a sequence number;
- the quota counters: each member's equals the sum of the rows charged to them, and the
  triggers that keep them are there.

Findings are said in words. With ``repair``, damaged content goes to the quarantine (the
file then shows as damaged, with its versions to restore), recorded sizes and the journal are
set to what the store holds, repeated sequence numbers get fresh ones, and the quota counters
are set to the sums (their triggers made again). Missing content
cannot be repaired here: the report names the files to restore or delete.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from hameau.accounts.models import Member
from hameau.config import Settings
from hameau.files import journal, quota
from hameau.files.models import FileEntry, FileVersion
from hameau.files.retention import referenced_blobs
from hameau.files.service import path_of
from hameau.node.blobs import BlobStore
from hameau.node.datadir import Layout, open_node
from hameau.node.db import transaction

SHOWN = 20  # findings of one kind listed one by one; the rest are counted


@dataclass
class Report:
    findings: list[str] = field(default_factory=list)  # damage, in words
    repaired: list[str] = field(default_factory=list)  # what --repair did, in words
    notes: list[str] = field(default_factory=list)  # not damage, worth knowing
    blobs_checked: int = 0
    bytes_checked: int = 0
    damaged: int = 0
    missing: int = 0

    @property
    def sound(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        out = [f"Damage: {line}" for line in self.findings]
        out += [f"Repaired: {line}" for line in self.repaired]
        out += [f"Note: {line}" for line in self.notes]
        verdict = "Everything checked is sound." if self.sound else "Damage was found."
        checked = f"{self.blobs_checked} stored contents ({self.bytes_checked:,} bytes) checked."
        return [*out, checked, verdict]


# ---------------------------------------------------------------- database


def check_database(path: Path) -> list[str]:
    """SQLite's own checks of the database file, read-only; problems in words."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [row[0] for row in connection.execute("PRAGMA integrity_check(20)")]
            keys = connection.execute("PRAGMA foreign_key_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        return [f"the database {path} cannot be read ({error})."]
    problems = [] if rows == ["ok"] else [f"the database {path}: {row}" for row in rows]
    if keys:
        tables = sorted({row[0] for row in keys})
        problems.append(
            f"{len(keys)} row(s) of {', '.join(tables)} refer to rows that do not exist."
        )
    return problems


# ---------------------------------------------------------------- content


def _recorded_sizes(session: Session) -> dict[str, set[int]]:
    sizes: dict[str, set[int]] = defaultdict(set)
    for digest, size in session.execute(
        select(FileEntry.blob, FileEntry.size).where(FileEntry.blob.is_not(None))
    ):
        sizes[str(digest)].add(size)
    for digest, size in session.execute(select(FileVersion.blob, FileVersion.size)):
        sizes[digest].add(size)
    return sizes


def where_used(session: Session, digest: str) -> list[str]:
    """The files (current, trashed, earlier versions) whose content this is, in words."""
    names = {row[0]: row[1] for row in session.execute(select(Member.id, Member.name))}

    def space(owner_id: int | None) -> str:
        return "household files" if owner_id is None else f"{names.get(owner_id, '?')}'s files"

    places = []
    for entry in session.scalars(select(FileEntry).where(FileEntry.blob == digest)):
        trashed = ", in the trash" if entry.deleted_at is not None else ""
        path = entry.deleted_from or path_of(session, entry)
        places.append(f"{path} ({space(entry.owner_id)}{trashed})")
    for version in session.scalars(select(FileVersion).where(FileVersion.blob == digest)):
        holder = session.get(FileEntry, version.entry_id)
        if holder is not None:
            path = path_of(session, holder)
            places.append(f"{path} ({space(holder.owner_id)}, version {version.revision})")
    return places


def _describe(session: Session, digest: str) -> str:
    places = where_used(session, digest)
    shown = "; ".join(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
    return shown or digest


def check_content(
    sessions: sessionmaker[Session],
    store: BlobStore,
    report: Report,
    repair: bool,
    between: Callable[[], None] | None = None,
) -> None:
    """Hash every referenced blob; damaged ones go to the quarantine when ``repair``. The
    hashing runs outside any transaction (a scrub takes hours; a reader held that long would
    keep SQLite from folding its WAL back)."""
    with transaction(sessions) as session:
        sizes = _recorded_sizes(session)
    missing: list[str] = []
    damaged: list[str] = []
    resized: dict[str, int] = {}
    for digest in sorted(sizes):
        stored = store.info(digest)
        if stored is None:
            missing.append(digest)
            continue
        found = store.verify(digest, between)
        report.blobs_checked += 1
        report.bytes_checked += stored.size
        if found == "missing":
            missing.append(digest)
        elif found is not None:
            damaged.append(digest)
            # only=: not a good copy written meanwhile
            if repair and store.quarantine(digest, "damaged", only=stored.copy) is not None:
                report.repaired.append(f"damaged content {digest} moved to the quarantine.")
        elif sizes[digest] - {stored.size}:
            resized[digest] = stored.size
    report.missing, report.damaged = len(missing), len(damaged)
    with transaction(sessions) as session:
        for digest in missing[:SHOWN]:
            report.findings.append(
                f"{_describe(session, digest)}: its content is missing (restore an earlier "
                "version from the file's page, or delete the file)."
            )
        for digest in damaged[:SHOWN]:
            report.findings.append(f"{_describe(session, digest)}: its content is damaged.")
        for kind, listed in (("missing", missing), ("damaged", damaged)):
            if len(listed) > SHOWN:
                report.findings.append(f"and {len(listed) - SHOWN} more {kind} contents.")
        for digest, size in resized.items():
            report.findings.append(
                f"{_describe(session, digest)}: the size recorded is not the {size} bytes of "
                "its content (what quotas count)."
            )
            if repair:
                for table in (FileEntry, FileVersion):
                    session.execute(update(table).where(table.blob == digest).values(size=size))
                report.repaired.append(f"recorded size of {digest} set to {size}.")


# ---------------------------------------------------------------- journal

_LIVE_FILES = text(
    "WITH RECURSIVE tree(id, owner_id, path, is_dir, blob, size) AS ("
    " SELECT id, owner_id, '', is_dir, blob, size FROM file_entries"
    "  WHERE parent_id IS NULL AND deleted_at IS NULL"
    " UNION ALL"
    " SELECT f.id, f.owner_id, CASE WHEN t.path = '' THEN f.name ELSE t.path || '/' || f.name END,"
    "  f.is_dir, f.blob, f.size FROM file_entries f JOIN tree t ON f.parent_id = t.id"
    "  WHERE f.deleted_at IS NULL)"
    " SELECT owner_id, path, blob, size FROM tree WHERE NOT is_dir AND blob IS NOT NULL"
)


def check_journal(session: Session, report: Report, repair: bool) -> None:
    """The journal says what the store holds: live files with their content, nothing else."""
    files = {
        (journal.space_key(owner), path): (owner, blob, size)
        for owner, path, blob, size in session.execute(_LIVE_FILES)
    }
    noted = {
        (entry.space, entry.path): entry.blob
        for entry in session.scalars(
            select(journal.SyncEntry).where(journal.SyncEntry.blob.is_not(None))
        )
    }
    stale = [key for key, (_o, blob, _s) in files.items() if noted.get(key) != blob]
    ghosts = [key for key in noted if key not in files]
    if stale or ghosts:
        report.findings.append(
            f"the files journal (what satellites sync from) disagrees with the files on "
            f"{len(stale) + len(ghosts)} path(s), e.g. {(stale + ghosts)[0][1]!r}."
        )
        if repair:
            for key in stale:
                owner, blob, size = files[key]
                journal.wrote(session, owner, key[1], blob, size)
            for space, path in ghosts:
                owner_id = None if space == journal.HOUSEHOLD else int(space.split(":")[1])
                journal.deleted(session, owner_id, path)
            report.repaired.append(f"{len(stale) + len(ghosts)} journal path(s) set to the files.")
    repeated = session.execute(
        select(journal.SyncEntry.seq, func.count())
        .group_by(journal.SyncEntry.seq)
        .having(func.count() > 1)
    ).all()
    if repeated:
        extra = sum(count - 1 for _seq, count in repeated)
        report.findings.append(
            f"{extra} change(s) of the files journal share a sequence number with another "
            "(a satellite could skip them)."
        )
        if repair:
            _renumber(session, [seq for seq, _count in repeated])
            report.repaired.append(
                f"{extra} journal change(s) given a sequence number of their own."
            )


def _renumber(session: Session, repeated: list[int]) -> None:
    """Give every change but one of each repeated number a fresh number above all others;
    a satellite then sees it again as a new change, which is harmless."""
    top = int(session.scalar(select(func.max(journal.SyncEntry.seq))) or 0)
    for seq in repeated:
        ids = session.scalars(
            select(journal.SyncEntry.id)
            .where(journal.SyncEntry.seq == seq)
            .order_by(journal.SyncEntry.id)
        ).all()
        for entry_id in ids[1:]:
            top += 1
            session.execute(
                update(journal.SyncEntry).where(journal.SyncEntry.id == entry_id).values(seq=top)
            )


def check_quota(session: Session, report: Report, repair: bool) -> None:
    """Each member's quota counter is the sum of what is charged to them."""
    missing = quota.missing_triggers(session)
    if missing:
        report.findings.append(
            f"{len(missing)} of the triggers that keep the quota counters are missing"
            " (a rebuilt table loses them): the counters no longer follow the writes."
        )
        if repair:
            quota.make_triggers(session, missing)
            report.repaired.append(f"{len(missing)} quota trigger(s) made again.")
    counted, kept = quota.recount_all(session), quota.counters(session)
    names = dict(session.execute(select(Member.id, Member.name)).all())
    wrong = {
        member_id: (kept.get(member_id, 0), counted.get(member_id, 0))
        for member_id in names
        if kept.get(member_id, 0) != counted.get(member_id, 0)
    }
    for member_id, (said, summed) in list(wrong.items())[:SHOWN]:
        report.findings.append(
            f"{names[member_id]}'s quota counter says {said:,} bytes used, their files"
            f" hold {summed:,}."
        )
    if len(wrong) > SHOWN:
        report.findings.append(f"and {len(wrong) - SHOWN} more members' quota counters.")
    if wrong and repair:
        quota.set_counters(session, {member_id: wrong[member_id][1] for member_id in wrong})
        report.repaired.append(f"{len(wrong)} quota counter(s) set to the sum of the files.")


def unreferenced(session: Session, store: BlobStore) -> int:
    keep = referenced_blobs(session)
    return sum(1 for digest in store.stored() if digest not in keep)


def run_check(settings: Settings, repair: bool = False, purge_quarantine: bool = False) -> Report:
    """The whole check of a node's data dir (the database first, read-only: a damaged one is
    not opened, so not migrated or written)."""
    report = Report()
    layout = Layout.of(settings)
    # On PostgreSQL, the server checks its own pages (data checksums, amcheck): not done here.
    problems = check_database(layout.database) if layout.on_sqlite else []
    if problems:
        report.findings += problems
        report.notes.append(
            "the database is damaged, so the content was not checked: stop the node, restore"
            " hameau.db from a backup (the content files are left as they are)."
        )
        return report
    node = open_node(settings)
    try:
        if purge_quarantine:
            count, size = node.blobs.purge_quarantine()
            report.repaired.append(f"quarantine emptied: {count} file(s), {size:,} bytes.")
        check_content(node.sessions, node.blobs, report, repair)
        with transaction(node.sessions) as session:
            check_journal(session, report, repair)
            check_quota(session, report, repair)
            loose = unreferenced(session, node.blobs)
        if loose:
            report.notes.append(
                f"{loose} stored content(s) no file refers to (a satellite's upload not yet "
                "applied, or left by a deletion); the next start moves them to the quarantine."
            )
        held = node.blobs.quarantined()
        if held:
            report.notes.append(
                f"the quarantine ({node.blobs.quarantine_location}) holds {len(held)} file(s), "
                f"{node.blobs.quarantine_size():,} bytes; `hameau check --purge-quarantine` "
                "empties it, otherwise each goes after 30 days."
            )
    finally:
        node.close()
    return report

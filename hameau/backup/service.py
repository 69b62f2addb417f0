"""The backup itself: set up a target, run a backup to it (or to every target), keep the runs.

A run holds the node's backup lock (a file lock in the data dir, also held by the restic it
starts): no two runs at once, and a run killed with its node leaves nothing held. The next run
then finds the killed one still "running" in the table, says it was interrupted, and clears
restic's lock of that dead run: the restic it started is gone (it held our lock), so its
locks are removed with `restic unlock --remove-all` when they are the only ones; other locks
are left to plain `restic unlock` (which removes only locks of processes known gone)
that are gone)."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.backup import content, key, mirror, sheet, targets
from hameau.backup.models import BackupRun, BackupTarget
from hameau.backup.restic import UNKNOWN, BackupFailed, Restic, Watch
from hameau.backup.target import Repository
from hameau.errors import N_, BadRequest, Conflict, HameauError
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.node.once import once

log = logging.getLogger("hameau.backup")

NO_TARGET = N_(
    "No backup target is set up; run `hameau backup setup FOLDER` (a USB disk's folder) or"
    " `hameau backup setup peer:NAME` (a paired home that offers space)."
)


@dataclass
class SetUp:
    """What setting up a target did: the sheet to show (the first time), or the lines to add
    to the sheet already given."""

    spec: str
    label: str
    sheet: str | None
    added: str


def _restic(
    node: Node, repository: Repository, label: str, lock: int | None = None,
    watch: Watch | None = None,
) -> Restic:  # fmt: skip
    cache = key.folder(node.layout) / "cache"
    return Restic(repository, key.key_file(node.layout), label, cache, lock, watch)


def specs(session: Session, node: Node) -> list[str]:
    """Every target: those set up (in the table), then those the setting names."""
    known = [row.spec for row in session.scalars(select(BackupTarget).order_by(BackupTarget.id))]
    return known + [spec for spec in targets.configured(node) if spec not in known]


def sheet_shown(node: Node) -> bool:
    return (key.folder(node.layout) / "sheet-shown").exists()


def mark_sheet_shown(node: Node) -> None:
    (key.folder(node.layout) / "sheet-shown").touch()


def recovery_sheet(node: Node, session: Session) -> str:
    return sheet.render(sheet.gather(node, session, specs(session, node)))


def setup(node: Node, spec: str) -> SetUp:
    """Make the household's key if there is none, make (or open) the repository at `spec`,
    and remember the target. The first time, the recovery sheet is returned, to be shown."""
    spec = targets.normalize(spec)
    target = targets.parse(node, spec)
    key.ensure_key(node.layout)
    with target.open() as repository:
        restic = _restic(node, repository, target.label)
        if not restic.exists():  # True also says the key opens it
            restic.run(["init"])
    with transaction(node.sessions) as session:
        if session.scalars(select(BackupTarget).where(BackupTarget.spec == spec)).first() is None:
            session.add(BackupTarget(spec=spec))
        session.flush()
        whole = recovery_sheet(node, session)
        info = sheet.gather(node, session, [spec])
    added = "\n".join(
        line for line in sheet.render(info).splitlines() if line.startswith(("target:", "  peer-"))
    )
    return SetUp(spec, target.label, None if sheet_shown(node) else whole, added)


@contextmanager
def run_lock(node: Node) -> Iterator[int]:
    """The node's backup lock (its descriptor, to hand to restic): refused if held, here or
    by another process of a node on PostgreSQL (an advisory lock: node/once.py)."""
    path = key.folder(node.layout) / "run.lock"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise Conflict("A backup is running already; wait for it to finish.") from None
    try:
        with once(node, "backup") as mine:  # and across the node's processes (PostgreSQL)
            if not mine:
                raise Conflict("A backup is running already; wait for it to finish.")
            yield descriptor
    finally:
        os.close(descriptor)


def _interrupted(session: Session) -> set[str]:
    """Runs left "running" by a killed node: said interrupted; their targets."""
    left = session.scalars(select(BackupRun).where(BackupRun.outcome == "running")).all()
    for run in left:
        run.outcome, run.finished_at = "interrupted", run.finished_at or datetime.now(UTC)
        run.error = _said(
            BackupFailed("The backup was interrupted (the home server stopped while it ran).")
        )
    return {run.target for run in left}


def _said(error: HameauError) -> str:
    return json.dumps(
        {"message": error.message, "params": {k: str(v) for k, v in error.params.items()}}
    )[:600]


def _forget(node: Node, restic: Restic) -> None:
    """Retention, after a good run: old snapshots forgotten and their data pruned."""
    settings = node.settings
    try:
        restic.run(
            ["forget", "--tag", "hameau", "--group-by", "host", "--prune",
             "--keep-daily", str(settings.backup_keep_daily),
             "--keep-weekly", str(settings.backup_keep_weekly),
             "--keep-monthly", str(settings.backup_keep_monthly)]
        )  # fmt: skip
    except BackupFailed:  # the backup is good; older ones stay until a later run prunes
        log.warning(
            "Old backups at %s could not be cleared; the next run tries again.", restic.where
        )


def _dead_pid(lock: int) -> int | None:
    """The restic of the run that held the lock before: written there as it started."""
    try:
        return int(os.pread(lock, 32, 0).decode().strip() or 0) or None
    except ValueError:
        return None


def _noting(lock: int, watch: Watch | None) -> Watch:
    def started(process: subprocess.Popen[str]) -> None:
        os.ftruncate(lock, 0)
        os.pwrite(lock, str(process.pid).encode(), 0)
        if watch is not None:
            watch(process)

    return started


def _clear_stale_locks(restic: Restic, dead: int | None) -> None:
    """restic's locks of our dead run removed, and only those (a stale lock would stop the
    pruning of old backups)."""
    ids = restic.run(["list", "locks", "--no-lock"]).split()
    host, ours = socket.gethostname(), 0
    for lock_id in ids:
        try:
            held = json.loads(restic.run(["cat", "lock", lock_id, "--no-lock"]))
        except (BackupFailed, ValueError):
            continue  # a half-written lock file: not a lock
        ours += held.get("hostname") == host and held.get("pid") == dead
    restic.run(["unlock", "--remove-all"] if ids and ours == len(ids) else ["unlock"])


def _back_up(node: Node, spec: str, lock: int, unlock: bool, watch: Watch | None) -> dict[str, Any]:
    known = _is_set_up(node, spec)
    if not known:
        setup(node, spec)  # a target the setting names: set up at its first backup
    target = targets.parse(node, spec)
    with target.open() as repository:
        restic = _restic(node, repository, target.label, lock, _noting(lock, watch))
        if unlock:
            _clear_stale_locks(restic, _dead_pid(lock))
        if known and not restic.exists():
            raise BackupFailed(
                "There is no backup at %(where)s; check that the disk is plugged in or that the"
                " neighbour still offers space, or set it up again.",
                where=target.label,
            )
        content.snapshot_database(node.layout)
        done = _snapshot(node, spec, restic)
        _forget(node, restic)
    return done


def _snapshot(node: Node, spec: str, restic: Restic) -> dict[str, Any]:
    """restic's backup of the data dir; content in S3 shown to it as a folder (the mirror),
    in rounds when more is to be downloaded than the spool allows (backup/mirror.py)."""
    parts = 0
    while True:
        staged = mirror.stage(node, spec, restic)
        done = restic.stream(
            ["backup", ".", "--exclude-file", str(content.exclude_file(node.layout)),
             "--host", node.identity.node_id,
             *(staged.arguments if staged else ["--tag", mirror.TAG])],
            cwd=node.layout.root,
        )  # fmt: skip
        if staged is None:
            return done
        mirror.settle(node, spec, staged, str(done.get("snapshot_id", "")))
        if staged.complete:
            if parts:
                mirror.forget_parts(node, restic)
            return done
        if not staged.downloaded:  # a round that moved nothing would be the next one again
            raise BackupFailed(UNKNOWN, where=restic.where, reason="no content could be read")
        parts += 1


def _is_set_up(node: Node, spec: str) -> bool:
    with node.sessions() as session:
        query = select(BackupTarget.id).where(BackupTarget.spec == spec)
        return session.scalars(query).first() is not None


def back_up(node: Node, spec: str, watch: Watch | None = None) -> BackupRun:
    """One backup to one target, recorded; a failure is recorded, then raised."""
    spec = targets.normalize(spec)
    with run_lock(node) as lock:
        with transaction(node.sessions) as session:
            unlock = spec in _interrupted(session)
            run = BackupRun(target=spec, started_at=datetime.now(UTC), outcome="running")
            session.add(run)
            session.flush()
            run_id = run.id
        try:
            done = _back_up(node, spec, lock, unlock, watch)
        except BaseException as error:
            failure = (
                error
                if isinstance(error, HameauError)
                else BackupFailed(UNKNOWN, where=spec, reason=type(error).__name__)
            )
            if not isinstance(error, HameauError):
                log.exception("The backup to %s failed.", spec)
            _finish(node, run_id, "failed", error=_said(failure))
            raise
        finally:
            content.clear_staging(node.layout)
        return _finish(node, run_id, "ok", summary=done)


def _finish(
    node: Node,
    run_id: int,
    outcome: str,
    summary: dict[str, Any] | None = None,
    error: str | None = None,
) -> BackupRun:
    with transaction(node.sessions) as session:
        run = session.get(BackupRun, run_id)
        assert run is not None
        run.outcome, run.finished_at, run.error = outcome, datetime.now(UTC), error
        if summary:
            run.snapshot_id = str(summary.get("snapshot_id", ""))[:64]
            run.bytes_added = int(summary.get("data_added", 0))
            run.total_bytes = int(summary.get("total_bytes_processed", 0))
            run.files = int(summary.get("total_files_processed", 0))
        session.flush()
        session.expunge(run)
        return run


def back_up_all(
    node: Node, only: str | None = None, watch: Watch | None = None
) -> list[tuple[str, BackupRun | HameauError]]:
    """A backup to `only`, or to every target in turn (one failing does not stop the others)."""
    with node.sessions() as session:
        chosen = [targets.normalize(only)] if only else specs(session, node)
    if not chosen:
        raise BadRequest(NO_TARGET)
    done: list[tuple[str, BackupRun | HameauError]] = []
    for spec in chosen:
        try:
            done.append((spec, back_up(node, spec, watch)))
        except Conflict:
            raise
        except HameauError as failure:
            done.append((spec, failure))
    return done


def last_runs(session: Session, limit: int = 10) -> list[BackupRun]:
    query = select(BackupRun).order_by(BackupRun.started_at.desc(), BackupRun.id.desc())
    return list(session.scalars(query.limit(limit)))


def last_good(session: Session) -> BackupRun | None:
    query = select(BackupRun).where(BackupRun.outcome == "ok")
    return session.scalars(query.order_by(BackupRun.finished_at.desc()).limit(1)).first()


def too_old(node: Node, session: Session, now: datetime | None = None) -> BackupRun | bool:
    """Whether the admins must be warned: targets exist, and no good backup in
    `backup_warn_days` days (the last good run, or True when there was none)."""
    if not specs(session, node):
        return False
    good = last_good(session)
    now = now or datetime.now(UTC)
    if good is None or good.finished_at is None:
        return True
    age = (now - good.finished_at).total_seconds() / 86400
    return good if age > node.settings.backup_warn_days else False


def said(run: BackupRun) -> HameauError | None:
    """The failure of a run, as the error it was (to be translated where shown)."""
    if not run.error:
        return None
    data = json.loads(run.error)
    return HameauError(data["message"], **data.get("params", {}))

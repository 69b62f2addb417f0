"""Quota: the bytes counted against a member (their files, earlier versions, trash and
WebDAV properties) and the room left to them; every door checks a write against it.

The count is a counter (`FileUsage`, one row per member) that the database's own triggers
keep in each write's transaction, whatever the door or the statement (a row written by the
ORM, a bulk insert of a satellite's sync, a purge's cascade): reading it costs the same in
an archive of ten files or of a hundred thousand. `recount` sums the rows themselves;
`hameau check` compares the two and `--repair` sets the counter to the sum.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, text, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from hameau.accounts.models import Member
from hameau.errors import InsufficientStorage
from hameau.files.models import DavProperty, FileEntry, FileUsage, FileVersion

CHARGED = ("file_entries", "file_versions", "dav_properties")  # the tables whose rows count


def _triggers(table: str) -> dict[str, str]:
    add = (
        "INSERT INTO file_usage (member_id, bytes) SELECT NEW.charged_to, NEW.size"
        " WHERE NEW.charged_to IS NOT NULL"
        " ON CONFLICT (member_id) DO UPDATE SET bytes = bytes + excluded.bytes;"
    )
    remove = "UPDATE file_usage SET bytes = bytes - OLD.size WHERE member_id = OLD.charged_to;"
    return {
        f"usage_{table}_insert": f"CREATE TRIGGER usage_{table}_insert AFTER INSERT ON {table}"
        f" WHEN NEW.charged_to IS NOT NULL AND NEW.size != 0 BEGIN {add} END",
        f"usage_{table}_delete": f"CREATE TRIGGER usage_{table}_delete AFTER DELETE ON {table}"
        f" WHEN OLD.charged_to IS NOT NULL AND OLD.size != 0 BEGIN {remove} END",
        f"usage_{table}_update": f"CREATE TRIGGER usage_{table}_update"
        f" AFTER UPDATE OF size, charged_to ON {table}"
        " WHEN OLD.size IS NOT NEW.size OR OLD.charged_to IS NOT NEW.charged_to"
        f" BEGIN {remove} {add} END",
    }


# What migration 0011 made (SQLite); `hameau check --repair` makes any missing one again.
TRIGGERS = {name: sql for table in CHARGED for name, sql in _triggers(table).items()}

# PostgreSQL's (migration 0011 too): one function, run by a trigger per table and event.
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION file_usage_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.charged_to IS NOT NULL AND OLD.size <> 0 THEN
    UPDATE file_usage SET bytes = bytes - OLD.size WHERE member_id = OLD.charged_to;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.charged_to IS NOT NULL AND NEW.size <> 0 THEN
    INSERT INTO file_usage (member_id, bytes) VALUES (NEW.charged_to, NEW.size)
      ON CONFLICT (member_id) DO UPDATE SET bytes = file_usage.bytes + excluded.bytes;
  END IF;
  RETURN NULL;
END $$"""


def _pg_triggers(table: str) -> dict[str, str]:
    run = "EXECUTE FUNCTION file_usage_count()"
    changed = "OLD.size IS DISTINCT FROM NEW.size OR OLD.charged_to IS DISTINCT FROM NEW.charged_to"
    return {
        f"usage_{table}_insert": f"CREATE TRIGGER usage_{table}_insert AFTER INSERT ON {table}"
        f" FOR EACH ROW {run}",
        f"usage_{table}_delete": f"CREATE TRIGGER usage_{table}_delete AFTER DELETE ON {table}"
        f" FOR EACH ROW {run}",
        f"usage_{table}_update": f"CREATE TRIGGER usage_{table}_update"
        f" AFTER UPDATE OF size, charged_to ON {table} FOR EACH ROW WHEN ({changed}) {run}",
    }


PG_TRIGGERS = {name: sql for table in CHARGED for name, sql in _pg_triggers(table).items()}


_USAGE = select(FileUsage.bytes).where(FileUsage.member_id == bindparam("member"))  # built once


def usage(session: Session, member_id: int) -> int:
    """Bytes counted against a member: their files, earlier versions and trash (the counter,
    read from the database: the triggers change it behind the ORM's back)."""
    found = session.scalar(_USAGE, {"member": member_id})
    return int(found or 0)


def _charged_rows() -> Subquery:
    return union_all(
        *(
            select(table.charged_to.label("member_id"), table.size.label("size"))
            for table in (FileEntry, FileVersion, DavProperty)
        )
    ).subquery()


def recount(session: Session, member_id: int) -> int:
    """The same bytes summed from every row (what the counter must equal)."""
    rows = _charged_rows()
    total = session.scalar(
        select(func.coalesce(func.sum(rows.c.size), 0)).where(rows.c.member_id == member_id)
    )
    return int(total or 0)


def recount_all(session: Session) -> dict[int, int]:
    """Each member's bytes summed from the rows (members with nothing charged: absent)."""
    rows = _charged_rows()
    query = (
        select(rows.c.member_id, func.sum(rows.c.size))
        .where(rows.c.member_id.is_not(None))
        .group_by(rows.c.member_id)
    )
    return {int(member_id): int(total or 0) for member_id, total in session.execute(query)}


def counters(session: Session) -> dict[int, int]:
    return {row.member_id: row.bytes for row in session.scalars(select(FileUsage))}


def set_counters(session: Session, values: dict[int, int]) -> None:
    """Set members' counters to these sums (`hameau check --repair`)."""
    for member_id, total in values.items():
        found = session.get(FileUsage, member_id)
        if found is None:
            session.add(FileUsage(member_id=member_id, bytes=total))
        else:
            found.bytes = total
    session.flush()


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def missing_triggers(session: Session) -> list[str]:
    """The counter's triggers that are not in the database (a rebuilt table loses them)."""
    listed = (
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        if _on_postgresql(session)
        else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    )
    found = set(session.scalars(text(listed)))
    return [name for name in TRIGGERS if name not in found]


def make_triggers(session: Session, names: list[str]) -> None:
    made = PG_TRIGGERS if _on_postgresql(session) else TRIGGERS
    if names and made is PG_TRIGGERS:
        session.execute(text(PG_FUNCTION))
    for name in names:
        session.execute(text(made[name]))


def room_left(session: Session, member: Member) -> int:
    return max(0, member.quota_bytes - usage(session, member.id))


def over_quota() -> InsufficientStorage:
    return InsufficientStorage(
        "Not enough room in your quota for this file; free some space or ask an admin for more."
    )

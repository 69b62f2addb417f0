"""The files journal of a member's space in their archive: each path's version vector (and a
deleted file's tombstone) goes with them, so a satellite packed at their old home syncs with
the new one as with the old (docs/travel.md, "Your home moved?").

Without it the new home would know each file as its own first version: a file the satellite
changed offline would look made apart from home's (a conflict copy instead of the newer
version), and a file deleted at the old home before the move would stay on the satellite
(the new home would know no deletion to tell it). Sequence numbers are not carried: they are
the journal's own; a satellite reads the new home's journal from its start.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.files import journal
from hameau.files.merge import FileState
from hameau.files.tables import space_key

BATCH = 500


def export(session: Session, member: Member) -> list[dict[str, Any]]:
    """Every path of the member's space the journal knows: vector, content (None: deleted)."""
    rows = session.execute(
        select(journal.SyncEntry.path, journal.SyncEntry.vector, journal.SyncEntry.blob,
               journal.SyncEntry.size)
        .where(journal.SyncEntry.space == space_key(member.id))
        .order_by(journal.SyncEntry.path)
    )  # fmt: skip
    return [{"path": p, "vector": dict(v), "blob": b, "size": s} for p, v, b, s in rows]


def _valid(record: dict[str, Any]) -> bool:
    vector = record.get("vector")
    return (
        isinstance(record.get("path"), str)
        and isinstance(vector, dict)
        and all(isinstance(k, str) and isinstance(n, int) and n > 0 for k, n in vector.items())
    )


def adopt(session: Session, member: Member, records: list[dict[str, Any]]) -> None:
    """After the files are in: each path whose state here is the archive's (the same content,
    or deleted on both sides, or unknown here and deleted there) takes the archive's vector.
    A path whose content here differs keeps its own (it was written here since)."""
    wanted = [record for record in records if _valid(record)]
    for start in range(0, len(wanted), BATCH):
        batch = wanted[start : start + BATCH]
        here = journal.states(session, member.id, [record["path"] for record in batch])
        again, new = [], []
        for record in batch:
            found, state = here.get(record["path"]), FileState(record["vector"], record["blob"])
            size = int(record.get("size") or 0)
            if found is None:
                if record["blob"] is None:  # a deletion this node never knew of
                    new.append((record["path"], state, 0))
            elif found.blob == record["blob"] and dict(found.vector) != record["vector"]:
                again.append((found, state, size if record["blob"] else 0))
        journal.adopt_many(session, member.id, new)
        journal.readopt_many(session, again)
    session.flush()

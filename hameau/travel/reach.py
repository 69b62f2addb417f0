"""Which contents a member may name by hash alone, at home.

Knowing a content's SHA-256 is no right to it: a member may fetch, adopt or be told that
home holds a content only if they may already read it (their own files, versions and trash,
the household's, what is shared with them) or have just proved they hold it by sending its
bytes. Anything else is answered exactly as if the content were not here at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.files.models import FileEntry, FileVersion
from hameau.node.blobs import BlobStore
from hameau.node.engine import insert_for
from hameau.travel import wire

CHUNK = 500  # digests per query (SQLite's bound parameters)


def readable(session: Session, member: Member, digests: Iterable[str]) -> set[str]:
    """Those of the digests held by an entry (or an earlier version) the member may read."""
    from hameau.files import service as files  # not at start, where Proofs is made

    wanted = sorted({digest for digest in digests if wire.is_digest(digest)})
    found: set[str] = set()
    # The member's or the household's, as one expression: an OR of the owner is what SQLite
    # would look up by (the member's every row), where the digests' index reads a few.
    own = func.coalesce(FileEntry.owner_id, member.id) == member.id
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        found.update(
            blob
            for blob in session.scalars(
                select(FileEntry.blob).where(FileEntry.blob.in_(chunk), own)
            )
            if blob
        )
        found.update(
            session.scalars(
                select(FileVersion.blob)
                .join(FileEntry, FileEntry.id == FileVersion.entry_id)
                .where(FileVersion.blob.in_(chunk), own)
            )
        )
        rest = [digest for digest in chunk if digest not in found]
        if not rest:  # (an empty IN made SQLite walk every live entry: 3 ms at 10,000 files)
            continue
        others = session.scalars(
            select(FileEntry).where(FileEntry.blob.in_(rest), FileEntry.deleted_at.is_(None))
        )
        found.update(
            entry.blob for entry in others if entry.blob and files.can_read(session, member, entry)
        )
    return found


class Proofs:
    """Contents each member proved to hold by sending their bytes, until they are applied.

    In the database (`travel_proofs`), so a satellite's sync whose requests land on
    different processes of the node is never asked for them twice; past a day home says the
    content is missing again and the satellite sends it again. Each call works in the
    session it is given (the caller commits)."""

    def __init__(self, keep_seconds: float = 86_400) -> None:
        self.keep_seconds = keep_seconds

    def add(self, db: Session, member_id: int, digests: Iterable[str]) -> None:
        from sqlalchemy import delete

        from hameau.travel.models import TravelProof

        now = time.time()
        db.execute(delete(TravelProof).where(TravelProof.proved < now - self.keep_seconds))
        insert = insert_for(db.get_bind().dialect.name)
        rows = [{"member_id": member_id, "digest": d, "proved": now}
                for d in sorted(set(digests)) if wire.is_digest(d)]  # fmt: skip
        for start in range(0, len(rows), CHUNK // 3):  # three bound parameters a row
            statement = insert(TravelProof).values(rows[start : start + CHUNK // 3])
            db.execute(statement.on_conflict_do_update(
                index_elements=["member_id", "digest"], set_={"proved": now}))  # fmt: skip

    def held(self, db: Session, member_id: int, digests: Iterable[str]) -> set[str]:
        from hameau.travel.models import TravelProof

        wanted = sorted({digest for digest in digests if wire.is_digest(digest)})
        oldest, found = time.time() - self.keep_seconds, set[str]()
        for start in range(0, len(wanted), CHUNK):
            query = select(TravelProof.digest).where(
                TravelProof.member_id == member_id,
                TravelProof.digest.in_(wanted[start : start + CHUNK]),
                TravelProof.proved >= oldest,
            )
            found.update(db.scalars(query))
        return found

    def forget(self, db: Session, member_id: int, digests: Iterable[str]) -> None:
        from sqlalchemy import delete

        from hameau.travel.models import TravelProof

        gone = sorted(set(digests))
        for start in range(0, len(gone), CHUNK):
            db.execute(delete(TravelProof).where(
                TravelProof.member_id == member_id,
                TravelProof.digest.in_(gone[start : start + CHUNK])))  # fmt: skip


class Within:
    """The blob store as one member sees it when naming contents by hash: what they may not
    take does not exist (so no answer tells it apart from a content that is not here)."""

    def __init__(self, store: BlobStore, allowed: set[str]) -> None:
        self.store = store
        self.allowed = allowed

    def exists(self, digest: str) -> bool:
        return digest in self.allowed and self.store.exists(digest)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

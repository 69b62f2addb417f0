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

    Kept in memory and bounded (about 100 bytes each): after a restart, past a day or past
    the bound, home says the content is missing again and the satellite sends it again."""

    def __init__(self, limit: int = 100_000, keep_seconds: float = 86_400) -> None:
        self.limit = limit
        self.keep_seconds = keep_seconds
        self._since: dict[bytes, float] = {}  # insertion order: oldest first

    @staticmethod
    def _key(member_id: int, digest: str) -> bytes | None:
        return (
            member_id.to_bytes(8, "big") + bytes.fromhex(digest) if wire.is_digest(digest) else None
        )

    def add(self, member_id: int, digests: Iterable[str]) -> None:
        now = time.monotonic()
        for digest in digests:
            key = self._key(member_id, digest)
            if key is not None:
                self._since.pop(key, None)
                self._since[key] = now
        while len(self._since) > self.limit:
            del self._since[next(iter(self._since))]

    def held(self, member_id: int, digests: Iterable[str]) -> set[str]:
        oldest = time.monotonic() - self.keep_seconds
        return {
            digest
            for digest in digests
            if self._since.get(self._key(member_id, digest) or b"", oldest - 1) >= oldest
        }

    def forget(self, member_id: int, digests: Iterable[str]) -> None:
        for digest in digests:
            self._since.pop(self._key(member_id, digest) or b"", None)


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

"""Tables of the files domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hameau.node.db import Base, UTCDateTime, utcnow


class FileEntry(Base):
    """A file or folder. Each space has a root folder (no parent, empty name).

    ``owner_id`` is the member whose private space holds it, or None for the household's.
    ``charged_to`` is the member whose quota its bytes count against (who wrote them).
    """

    __tablename__ = "file_entries"
    __table_args__ = (
        # One live entry per name in a folder; trashed entries step aside.
        Index(
            "uq_file_entries_live_name",
            "parent_id",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
        ),
        # The spaces' roots alone: finding one costs the same in any size of archive.
        Index(
            "ix_file_entries_roots",
            "owner_id",
            sqlite_where=text("parent_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), nullable=True, index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("file_entries.id", ondelete="CASCADE"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    is_dir: Mapped[bool] = mapped_column(Boolean)
    blob: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    content_type: Mapped[str] = mapped_column(String(120), default="application/octet-stream")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    charged_to: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # Where a trashed entry came from, to show and to restore it.
    deleted_from: Mapped[str | None] = mapped_column(String(4000), nullable=True)


# A folder's live entries in the order every door lists them (files.listing): a page of a
# folder of 20,000 starts at its cursor instead of sorting the whole folder.
Index(
    "ix_file_entries_listing",
    FileEntry.parent_id,
    FileEntry.is_dir.desc(),
    func.lower(FileEntry.name),
    sqlite_where=text("deleted_at IS NULL"),
)


class FileVersion(Base):
    """An earlier content of a file, kept when it is overwritten (the last N)."""

    __tablename__ = "file_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("file_entries.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(Integer)
    blob: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    charged_to: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FileShare(Base):
    """A file or folder of a private space, shared read-only with a member or the household."""

    __tablename__ = "file_shares"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("file_entries.id", ondelete="CASCADE"), index=True
    )
    # None: shared with the whole household.
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DavProperty(Base):
    """A WebDAV dead property (set by a client with PROPPATCH) of a file or folder.

    Tied to the entry, not to its path: it follows moves, is copied with the entry, and goes
    when the entry is purged. ``size`` (name and value) counts against ``charged_to``'s quota.
    """

    __tablename__ = "dav_properties"
    __table_args__ = (UniqueConstraint("entry_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("file_entries.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(1000))  # Clark notation: {namespace}local
    value: Mapped[bytes] = mapped_column(LargeBinary)  # the property's XML element
    size: Mapped[int] = mapped_column(BigInteger)
    charged_to: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True, index=True
    )


class DavLock(Base):
    """A WebDAV lock, kept in the database so a restart does not strand a client.

    ``root`` is the locked resource's key, not its URL: the space's owner comes first
    (`/m12/mine/a/b`, `/h/household/a`), so one URL names a different file per member.
    """

    __tablename__ = "dav_locks"

    token: Mapped[str] = mapped_column(String(100), primary_key=True)
    root: Mapped[str] = mapped_column(String(4000), index=True)
    principal: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(20))
    depth: Mapped[str] = mapped_column(String(20))
    owner: Mapped[bytes] = mapped_column(LargeBinary)
    timeout: Mapped[float] = mapped_column(Float)
    expire: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch


class FileUsage(Base):
    """Bytes charged to a member (files, versions, trash, dead properties): the quota's
    counter, kept by the database's triggers in each write's transaction (`files.quota`)."""

    __tablename__ = "file_usage"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)

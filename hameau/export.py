"""One archive of a member's whole environment, in standard formats, with a manifest of hashes;
and its import into another node. Both loop over the registry's environment adapters
(`hameau.parts`): each part writes and reads its own entries.

    files/…              the member's own files, as they are
    files.json           folders, versions, trash, shares, WebDAV properties (blobs/ holds
                         content of versions and trashed files)
    calendars/*.ics      their calendars;  contacts/*.vcf  their address books
    notes/*.md           their notes, as Markdown (notes.json, notes-crdt/: their CRDT state)
    messages.json        their conversations
    ai/history.json      their questions to the AI
    profile.json         name, language, quota, password and app passwords (hashes only),
                         devices they own, where they left off
    manifest.json        every entry above with its size and SHA-256

Format hameau-export/2 adds files.json, blobs/, notes.json, notes-crdt/, ai/ and profile.json's
hashes to /1, whose entries it keeps as they were. Import takes /2 only: a /1 archive lacks
what an import needs (versions, the notes' CRDT state, the password's hash).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from hameau import __version__, parts
from hameau.accounts import environment as accounts
from hameau.accounts.models import Member
from hameau.errors import BadRequest, InsufficientStorage
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from hameau.node.environment import ArchiveReader, ArchiveWriter, Usage, damaged

FORMAT = "hameau-export/2"
# Room kept free on the node's disk beyond what an import writes.
DISK_MARGIN = 64 << 20
# Run inside the import's transaction, once every part is in (moving home's switch), with
# what each part holds of the member now.
Within = Callable[[Session, Member, list[tuple[str, Usage]]], None]


def export_member(
    node: Node, member_id: int, out: Path, by_reference: bool = False
) -> dict[str, Any]:
    """Write the archive to ``out`` (a temp name, then renamed); returns the manifest.
    ``by_reference`` (moving home): stored contents are named by hash, not copied.

    Damaged content refuses the whole export (files' adapter raises Conflict)."""
    import zipfile

    partial = out.with_name(out.name + ".partial")
    try:
        with transaction(node.sessions) as session, zipfile.ZipFile(partial, "w") as packed:
            member = session.get(Member, member_id)
            assert member is not None
            archive = ArchiveWriter(packed, by_reference)
            exported = []
            for part, adapter in parts.adapters():
                if adapter.export is not None:
                    adapter.export(node, session, member, archive)
                    exported.append(part.name)
            manifest = archive.finish(
                {"format": FORMAT, "hameau": __version__, "node": node.name,
                 "member": member.name, "exported_at": utcnow().isoformat(), "parts": exported}
            )  # fmt: skip
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)
    return manifest


@dataclass
class Imported:
    """What an import did, for the command to say."""

    member: str
    made: bool  # the member was made by this import
    origin: str  # the node the archive came from
    entries: int
    usage: Usage = field(default_factory=Usage)
    notes: list[str] = field(default_factory=list)


def _check_format(archive: ArchiveReader) -> None:
    found = archive.manifest.get("format")
    if found == FORMAT:
        return
    if found == "hameau-export/1":
        raise BadRequest(
            "This archive was made by an earlier hameau and does not carry enough to import;"
            " export the member again with this version."
        )
    raise BadRequest(
        "This is not an archive of a member's environment that this hameau knows"
        " (format '%(format)s'); export it again with this version.",
        format=str(found)[:40],
    )


def _check_disk(node: Node, archive: ArchiveReader) -> None:
    free = node.contents_room()
    if archive.total_size + DISK_MARGIN > free:
        raise InsufficientStorage(
            "The home server's disk has %(free)s MB free, not enough for this archive"
            " (%(size)s MB); free some space, then import again.",
            free=free >> 20,
            size=max(1, archive.total_size >> 20),
        )


def _import_parts(
    node: Node,
    session: Session,
    archive: ArchiveReader,
    name: str,
    quota_mb: int | None,
    within: Within | None = None,
    replace: bool = False,
) -> Imported:
    """The member (made if missing), then every part's import, in the registry's order."""
    profile = accounts.read_profile(archive)
    quota = (node.settings.default_quota_mb if quota_mb is None else quota_mb) << 20
    member, made = accounts.arrive(session, profile, name or profile["name"], quota)
    if quota_mb is not None:
        member.quota_bytes = quota
    origin = str(archive.manifest.get("node", "?"))
    done = Imported(member.name, made, origin, len(archive.paths()))
    for part, adapter in parts.adapters():
        if adapter.import_ is None:
            continue
        try:
            more = {"replace": True} if replace else {}
            done.notes.extend(adapter.import_(node, session, member, archive, **more) or [])
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            # Hashes right but content not as this version writes it: hand-made or foreign.
            raise damaged(f"its {part.name} entries cannot be read") from error
    usages = usage_in(node, session, member)  # once: the switch keeps it for its report
    for _part, usage in usages:
        done.usage += usage
    if within is not None:
        within(session, member, usages)
    return done


def import_member(
    node: Node,
    path: Path | BinaryIO,
    as_name: str | None = None,
    quota_mb: int | None = None,
    by_reference: bool = False,
    within: Within | None = None,
    replace: bool = False,
) -> Imported:
    """Check the whole archive, then import it in one database transaction: the member
    (made if missing, with ``quota_mb`` or the node's default quota), then every part in the
    registry's order, then ``within`` (moving home: the switch, in the same transaction).
    ``by_reference``: contents named by hash are in the blob store already. Importing again
    changes nothing. ``replace``: each part makes the member's data here exactly the
    archive's (what it lacks goes), instead of adding the archive to it."""
    with ArchiveReader(path, node.blobs if by_reference else None) as archive:
        _check_format(archive)
        profile = accounts.read_profile(archive)
        _check_disk(node, archive)
        archive.verify()  # every byte hashed before anything is written
        try:
            with transaction(node.sessions) as session:
                name = as_name or profile["name"]
                return _import_parts(node, session, archive, name, quota_mb, within, replace)
        except (KeyError, TypeError, ValueError) as error:
            raise damaged("its profile cannot be read") from error


def usage_by_part(node: Node, member_name: str) -> list[tuple[str, Usage]]:
    """What each part with an adapter holds of the member (moving home's plan)."""
    from sqlalchemy import select

    with node.sessions() as session:
        member = session.scalar(select(Member).where(Member.name == member_name))
        return [] if member is None else usage_in(node, session, member)


def usage_in(node: Node, session: Session, member: Member) -> list[tuple[str, Usage]]:
    """The same, in a session of the caller's (moving home: within the import's transaction)."""
    found: list[tuple[str, Usage]] = []
    for part, adapter in parts.adapters():
        if adapter.usage is not None:
            found.append((part.name, adapter.usage(node, session, member)))
    return found

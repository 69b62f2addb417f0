"""One archive of a member's whole environment, in standard formats, with a manifest of hashes.

    files/…             the member's own files, as they are
    calendars/*.ics     their calendars;  contacts/*.vcf  their address books
    notes/*.md          their notes, as Markdown
    messages.json       their conversations
    profile.json        name, language, quota, devices they own, where they left off
    manifest.json       every entry above with its size and SHA-256

This is what a move to another node will carry.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hameau import __version__
from hameau.accounts.models import Device, Member, Workspace
from hameau.calendar.store import CalendarStore
from hameau.errors import Conflict
from hameau.files import service as files
from hameau.messages import service as messages
from hameau.node.blobs import BlobDamaged
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from hameau.notes import service as notes

FORMAT = "hameau-export/1"


def _slug(text: str) -> str:
    cleaned = re.sub(r"[^\w\- ]+", "", text, flags=re.UNICODE).strip().replace(" ", "-")
    return cleaned[:60] or "note"


def export_member(node: Node, member_id: int, out: Path) -> dict[str, Any]:
    """Write the archive to ``out`` (a temp name, then renamed); returns the manifest."""
    entries: list[dict[str, Any]] = []
    partial = out.with_name(out.name + ".partial")

    def add(archive: zipfile.ZipFile, name: str, data: bytes, compress: bool = True) -> None:
        archive.writestr(name, data, zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
        entries.append(
            {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )

    with transaction(node.sessions) as session, zipfile.ZipFile(partial, "w") as archive:
        member = session.get(Member, member_id)
        assert member is not None
        for path, entry in files.live_files(session, member):
            assert entry.blob is not None
            try:  # hashed as it is copied: damaged content never goes into an archive
                with (
                    node.blobs.open_verified(entry.blob) as source,
                    archive.open(f"files/{path}", "w") as target,
                ):
                    while chunk := source.read(1 << 20):
                        target.write(chunk)
                    size = source.size
            except BlobDamaged:
                partial.unlink(missing_ok=True)
                raise Conflict(
                    "The file '%(path)s' is damaged on the home server, so nothing was exported: "
                    "restore an earlier version of it (or delete it) and export again.",
                    path=path,
                ) from None
            entries.append({"path": f"files/{path}", "size": size, "sha256": entry.blob})
        for name, text in CalendarStore(node).export(member.name).items():
            folder = "calendars" if name.endswith(".ics") else "contacts"
            add(archive, f"{folder}/{name}", text.encode())
        for note in notes.mine(session, member):
            add(
                archive,
                f"notes/{note.id}-{_slug(note.title)}.md",
                notes.text_of(session, note).encode(),
            )
        add(
            archive,
            "messages.json",
            json.dumps(messages.export(session, member), ensure_ascii=False, indent=1).encode(),
        )
        place = session.get(Workspace, member.id)
        owned = session.scalars(select(Device).where(Device.owner_id == member.id)).all()
        profile = {
            "name": member.name, "display_name": member.display_name, "locale": member.locale,
            "is_admin": member.is_admin, "quota_bytes": member.quota_bytes,
            "created_at": member.created_at.isoformat(),
            "devices": [{"name": d.name, "kind": d.kind, "acquired_on": str(d.acquired_on or "")} for d in owned],
            "workspace": {"app": place.app, "path": place.path, "title": place.title} if place else None,
        }  # fmt: skip
        add(archive, "profile.json", json.dumps(profile, ensure_ascii=False, indent=1).encode())
        manifest = {
            "format": FORMAT, "hameau": __version__, "node": node.name,
            "member": member.name, "exported_at": utcnow().isoformat(), "entries": entries,
        }  # fmt: skip
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
    partial.replace(out)
    return manifest

"""Walking a member's live tree: every entry below a folder with its path (export, and an
import that replaces a member's files)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hameau.files import service as files
from hameau.files.models import FileEntry


def tree(session: Session, top: FileEntry, base: str = "") -> list[tuple[str, FileEntry]]:
    """Every live entry below ``top`` (folders too), with its path from ``base``, sorted."""
    found: list[tuple[str, FileEntry]] = []
    pending = [(base, top)]
    while pending:
        prefix, folder = pending.pop()
        for entry in files.children(session, folder):
            path = f"{prefix}/{entry.name}" if prefix else entry.name
            found.append((path, entry))
            if entry.is_dir:
                pending.append((path, entry))
    return sorted(found, key=lambda item: item[0])

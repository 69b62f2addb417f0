"""The notes part of a member's environment.

    notes/<id>-<title>.md   each note's text, as Markdown (what a person reads)
    notes.json              each note's uid, title and dates, and where its CRDT state is
    notes-crdt/<uid>.yjs    each note's whole CRDT state (a Yjs update)

Import merges the CRDT state into the note with the same uid (made if missing), the way a
satellite's copy is merged, so the note keeps merging with edits made anywhere afterwards
and importing again adds nothing. Notes the member deleted are not carried (in replace mode,
moving home's way back, a note the archive lacks is deleted here).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.node.datadir import Node
from hameau.node.environment import ArchiveReader, ArchiveWriter, Usage, damaged
from hameau.notes import service as notes
from hameau.notes.models import Note, NoteUpdate

INDEX = "notes.json"


def _slug(text: str) -> str:
    cleaned = re.sub(r"[^\w\- ]+", "", text, flags=re.UNICODE).strip().replace(" ", "-")
    return cleaned[:60] or "note"


def export(node: Node, session: Session, member: Member, archive: ArchiveWriter) -> None:
    listed = []
    for note in notes.mine(session, member):
        markdown = f"notes/{note.id}-{_slug(note.title)}.md"
        state = f"notes-crdt/{note.uid}.yjs"
        archive.add(markdown, notes.text_of(session, note).encode())
        archive.add(state, notes.update_since(session, note, None))
        listed.append(
            {"uid": note.uid, "title": note.title, "markdown": markdown, "crdt": state,
             "created_at": note.created_at.isoformat(), "updated_at": note.updated_at.isoformat()}
        )  # fmt: skip
    archive.add_json(INDEX, listed)


def import_(
    node: Node, session: Session, member: Member, archive: ArchiveReader, replace: bool = False
) -> None:
    """``replace``: the member's notes become the archive's (a note it lacks was deleted at
    the other home: deleted here too; one deleted here that it carries lives again)."""
    listed: set[str] = set()
    for record in archive.read_json(INDEX, []):
        uid = str(record.get("uid", ""))
        if not re.fullmatch(r"[0-9a-f]{32}", uid):
            raise damaged(f"a note's uid is {uid[:40]!r}")
        taken = session.scalar(select(Note.owner_id).where(Note.uid == uid))
        if taken is not None and taken != member.id:  # imported twice on one node, --as another
            uid = hashlib.sha256(f"{uid}/{member.name}".encode()).hexdigest()[:32]
        data = archive.read(record["crdt"])
        note = notes.receive(session, member, uid, data, deleted=False if replace else None)
        listed.add(note.uid)
        if record.get("created_at"):
            note.created_at = datetime.fromisoformat(record["created_at"])
    for note in notes.mine(session, member) if replace else ():
        if note.uid not in listed:
            notes.delete(session, member, note)
    session.flush()


def usage(node: Node, session: Session, member: Member) -> Usage:
    found = session.execute(
        select(func.count(NoteUpdate.id), func.coalesce(func.sum(func.length(NoteUpdate.data)), 0))
        .join(Note, Note.id == NoteUpdate.note_id)
        .where(Note.owner_id == member.id)
    ).one()
    notes_count = session.scalar(select(func.count(Note.id)).where(Note.owner_id == member.id))
    return Usage(int(found[1]), int(found[0]) + int(notes_count or 0))

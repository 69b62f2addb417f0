"""Notes: a pycrdt document per note, stored as its log of updates.

An edit arrives as the new full text and the revision it was made from. The edit is
replayed on the document *as it was at that revision*, and the resulting CRDT update is
merged into the current document: edits made concurrently (two browsers, a satellite)
both survive, as Yjs merges them, instead of the last save winning.
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.errors import BadRequest, NotFound
from hameau.node.db import utcnow
from hameau.notes.models import Note, NoteUpdate
from hameau.search import index

if TYPE_CHECKING:
    from pycrdt import Doc, Text

MAX_NOTE = 1 << 20
ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip


# A note with more `|` than this has its tables shown as text: markdown-it's table rule
# costs some 17 µs a cell, and a 1 MB note of 5,000-column rows took 9 s at each save.
TABLE_PIPES = 20_000


@cache
def _markdown(tables: bool = True) -> Any:
    """The Markdown parser, built on first use (notes' libraries load only when used)."""
    import markdown_it

    parser = markdown_it.MarkdownIt("commonmark", {"html": False, "linkify": False})
    return parser.enable("table") if tables else parser


@dataclass(frozen=True)
class Saved:
    revision: int
    text: str


def render(source: str) -> str:
    """Markdown to HTML that cannot run anything: no raw HTML, only http(s)/mailto links."""
    import nh3

    html = _markdown(tables=source.count("|") <= TABLE_PIPES).render(source)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "img": {"src", "alt", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def _document(updates: list[bytes]) -> Doc:
    from pycrdt import Doc, Text

    document: Doc = Doc()
    body = document.get("body", type=Text)
    assert body is not None
    for update in updates:
        document.apply_update(update)
    return document


def _text(document: Doc) -> str:
    from pycrdt import Text

    return str(document.get("body", type=Text))


def _updates(session: Session, note: Note, up_to: int | None = None) -> list[bytes]:
    return _log(session, note, up_to)[0]


def _log(session: Session, note: Note, up_to: int | None = None) -> tuple[list[bytes], int]:
    """The note's updates and its revision (the last one's number), read in one statement:
    outside a write, each of SQLite's statements sees what is committed when it runs, and a
    revision read apart could name an update the text read before it lacks. An editor given
    that pair would then save its text as made from that revision, undoing the update."""
    query = select(NoteUpdate.id, NoteUpdate.data).where(NoteUpdate.note_id == note.id)
    if up_to is not None:
        query = query.where(NoteUpdate.id <= up_to)
    rows = session.execute(query.order_by(NoteUpdate.id)).all()
    return [row.data for row in rows], (rows[-1].id if rows else 0)


def current(session: Session, note: Note) -> tuple[str, int]:
    """The note's text and the revision it is at, as an editor is given them."""
    updates, at = _log(session, note)
    return _text(_document(updates)), at


def revision(session: Session, note: Note) -> int:
    return _log(session, note)[1]


def text_of(session: Session, note: Note) -> str:
    return current(session, note)[0]


def _lock(session: Session, note: Note) -> None:
    """Appends to one note's log one at a time: on PostgreSQL its row is locked until the
    commit, so a note's updates commit in the order of their numbers (a revision a reader
    was given never gains an earlier update later); SQLite's one writer already does so."""
    session.execute(select(Note.id).where(Note.id == note.id).with_for_update())


def title_of(source: str) -> str:
    first = next((line.strip("# ").strip() for line in source.splitlines() if line.strip()), "")
    return first[:200]


def get(session: Session, member: Member, note_id: int) -> Note:
    note = session.get(Note, note_id)
    if note is None or note.owner_id != member.id or note.deleted_at is not None:
        raise NotFound("No such note.")
    return note


def mine(session: Session, member: Member) -> list[Note]:
    return list(
        session.scalars(
            select(Note)
            .where(Note.owner_id == member.id, Note.deleted_at.is_(None))
            .order_by(Note.updated_at.desc())
        )
    )


def create(session: Session, member: Member, source: str = "") -> Note:
    note = Note(owner_id=member.id)
    session.add(note)
    session.flush()
    if source:
        save(session, member, note, 0, source)
    return note


def _edit(body: Text, old: str, new: str) -> None:
    """Apply the difference between two texts to a CRDT text, as few edits as possible.

    pycrdt counts positions in UTF-8 bytes, so "é" moves what follows by two."""
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    if old.isascii():
        offset = list(range(len(old) + 1))
    else:
        offset = [0, *itertools.accumulate(len(char.encode()) for char in old)]
    for tag, start, end, new_start, new_end in reversed(matcher.get_opcodes()):
        if tag in ("replace", "delete"):
            del body[offset[start] : offset[end]]
        if tag in ("replace", "insert"):
            body.insert(offset[start], new[new_start:new_end])


def save(session: Session, member: Member, note: Note, base: int, source: str) -> Saved:
    """Record an edit made from revision ``base``; returns the merged text and new revision."""
    if len(source.encode()) > MAX_NOTE:
        raise BadRequest("A note can hold at most 1 MB of text.")
    _lock(session, note)
    if base > revision(session, note) or base < 0:
        raise BadRequest("This note's revision is unknown; reload the note.")
    from pycrdt import Text

    fork = _document(_updates(session, note, base))
    before = fork.get_state()
    _edit(fork.get("body", type=Text), _text(fork), source)
    session.add(NoteUpdate(note_id=note.id, data=fork.get_update(before)))
    session.flush()  # in the write now: what is read below is all there is, this edit last
    merged_text, at = current(session, note)
    note.title = title_of(merged_text)
    note.updated_at = utcnow()
    index.put(session, "note", note.id, member.id, note.title, merged_text)
    return Saved(at, merged_text)


def delete(session: Session, member: Member, note: Note) -> None:
    note.deleted_at = utcnow()
    index.remove(session, "note", note.id)


def state_vector(session: Session, note: Note) -> bytes:
    """For sync: what this node's copy of the note already holds."""
    return _document(_updates(session, note)).get_state()


# ---------------------------------------------------------------- sync (travel)


def by_uid(session: Session, member: Member, uid: str) -> Note | None:
    """The member's note with this uid, deleted or not."""
    return session.scalar(select(Note).where(Note.uid == uid, Note.owner_id == member.id))


def all_of(session: Session, member: Member) -> list[Note]:
    """Every note of the member, deleted ones too (a deletion travels like an edit)."""
    return list(session.scalars(select(Note).where(Note.owner_id == member.id).order_by(Note.id)))


@dataclass(frozen=True)
class SyncState:
    state_vector: bytes
    digest: str  # SHA-256 of the text, to tell whether two copies read the same


def sync_state(session: Session, note: Note) -> SyncState:
    import hashlib

    document = _document(_updates(session, note))
    return SyncState(document.get_state(), hashlib.sha256(_text(document).encode()).hexdigest())


def update_since(session: Session, note: Note, state_vector: bytes | None) -> bytes:
    """What this copy holds that a copy at ``state_vector`` lacks (all of it without one)."""
    document = _document(_updates(session, note))
    if not state_vector:
        return document.get_update()
    try:
        if not _bounded(state_vector, 2):  # a client and its clock: two bytes at least
            raise ValueError("more clients than the state vector has bytes for")
        return document.get_update(state_vector)
    except ValueError as error:  # pycrdt's word for garbage
        raise BadRequest("A note's state from the other copy is not a valid CRDT state.") from error


def _bounded(data: bytes, least: int) -> bool:
    """Whether the first number of a CRDT update or state vector, its count of clients,
    fits its length (each client's part takes at least ``least`` bytes). Yrs makes room for
    that many before reading them: 5 random bytes of a state vector made it take 532 MB,
    which a node of 1 GB cannot give twice."""
    count = shift = 0
    for position, byte in enumerate(data[:10]):
        count |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return count * least <= len(data) - position - 1
    return False


def receive(
    session: Session, member: Member, uid: str, update: bytes, deleted: bool | None
) -> Note:
    """Merge an update from another copy of the note (made here if new); set its deletion.

    A row is added to the log only if the update brings something this copy lacked."""
    note = by_uid(session, member, uid)
    if note is None:
        note = Note(owner_id=member.id, uid=uid)
        session.add(note)
        session.flush()
    _lock(session, note)
    held = _document(_updates(session, note))
    before = (held.get_state(), _text(held))
    try:
        if not _bounded(update, 3):  # its structs' count, client and clock: three bytes
            raise ValueError("more clients than the update has bytes for")
        held.apply_update(update)
    except Exception as error:  # pycrdt raises plain exceptions on garbage
        raise BadRequest("A note update from the other copy is not a valid CRDT update.") from error
    changed = (held.get_state(), _text(held)) != before
    if changed:
        session.add(NoteUpdate(note_id=note.id, data=update))
        note.title = title_of(_text(held))
        note.updated_at = utcnow()
    if deleted is not None and deleted != (note.deleted_at is not None):
        note.deleted_at = utcnow() if deleted else None
    session.flush()
    if note.deleted_at is None:
        index.put(session, "note", note.id, member.id, note.title, _text(held))
    else:
        index.remove(session, "note", note.id)
    return note

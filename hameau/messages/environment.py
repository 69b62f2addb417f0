"""The messages part of a member's environment: their conversations.

    messages.json   each conversation: subject, who took part, when and by whom it was
                    started, and every message (author's name, time, text)

The member's copy of a conversation is theirs to take; the other people in it did not move.
So an imported conversation has the member alone as participant (nobody's inbox here changes
because someone moved in), and the others' messages are kept as quoted history: written by
no member here, their text starting with the author's name ("Sam: …"). Importing again adds
nothing: a conversation is known by its subject and start, a message by its time and text
(another member's message here also by its quoted form: a member moving back to a home
brings the replies kept there as history no second time). Drafts are not carried.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.messages import service as messages
from hameau.messages.models import Message, Participant, Thread
from hameau.node.datadir import Node
from hameau.node.environment import ArchiveReader, ArchiveWriter, Usage

INDEX = "messages.json"


def export(node: Node, session: Session, member: Member, archive: ArchiveWriter) -> None:
    names = dict(session.execute(select(Member.id, Member.name)).all())
    displayed = dict(session.execute(select(Member.name, Member.display_name)).all())
    conversations = messages.export(session, member)
    for summary, conversation in zip(messages.inbox(session, member), conversations, strict=True):
        thread = summary.thread
        conversation["participants"] = [
            names.get(found, "") for found in messages.participants(session, thread)
        ]
        conversation["started_by"] = names.get(thread.created_by or 0)
        conversation["started_at"] = thread.created_at.isoformat()
        for message in conversation["messages"]:  # type: ignore[attr-defined]
            message["from_display"] = displayed.get(message["from"], message["from"])
    archive.add_json(INDEX, conversations)


def quoted(message: dict[str, Any]) -> str:
    """Another member's message, kept as history: their name, then their text."""
    return f"{message.get('from_display') or message.get('from') or '?'}: {message['body']}"


def _thread(session: Session, member: Member, record: dict[str, Any]) -> Thread:
    started = datetime.fromisoformat(record["started_at"])
    found = session.scalar(
        select(Thread)
        .join(Participant, Participant.thread_id == Thread.id)
        .where(
            Participant.member_id == member.id,
            Thread.subject == record["subject"][:200],
            Thread.created_at == started,
        )
    )
    if found is None:
        mine = record.get("started_by") == record.get("as_name")
        found = Thread(
            subject=record["subject"][:200], created_by=member.id if mine else None,
            created_at=started, updated_at=started,
        )  # fmt: skip
        session.add(found)
        session.flush()
        session.add(Participant(thread_id=found.id, member_id=member.id))
    return found


def _known(
    session: Session, member: Member, thread: Thread, displayed: dict[int, str]
) -> set[tuple[datetime, str]]:
    """The messages of a conversation here, by time and text, and others' also as quoted
    history (how another home keeps them): a member moving back brings no double."""
    known = set()
    for found in messages.messages(session, thread):
        known.add((found.created_at, found.body))
        if found.author_id not in (None, member.id):
            shown = displayed.get(found.author_id, "?")
            known.add((found.created_at, quoted({"from_display": shown, "body": found.body})))
    return known


def import_(
    node: Node, session: Session, member: Member, archive: ArchiveReader, replace: bool = False
) -> None:
    """``replace`` changes nothing here: conversations are shared and none can be deleted,
    so what the archive lacks was never removed at the other home."""
    origin = archive.manifest.get("member")
    displayed = dict(session.execute(select(Member.id, Member.display_name)).all())
    for record in archive.read_json(INDEX, []):
        thread = _thread(session, member, {**record, "as_name": origin})
        known = _known(session, member, thread, displayed)
        for message in record.get("messages", []):
            at = datetime.fromisoformat(message["at"])
            own = message.get("from") == origin
            # No author there: quoted history already (or one who left that home).
            body = message["body"] if own or not message.get("from") else quoted(message)
            if (at, body) in known:
                continue
            session.add(
                Message(thread_id=thread.id, author_id=member.id if own else None, body=body,
                        created_at=at)
            )  # fmt: skip
            thread.updated_at = max(thread.updated_at, at)
        session.flush()
        newest = session.scalar(select(func.max(Message.id)).where(Message.thread_id == thread.id))
        messages.mark_read(session, member, thread, int(newest or 0))


def usage(node: Node, session: Session, member: Member) -> Usage:
    mine = select(Participant.thread_id).where(Participant.member_id == member.id)
    found = session.execute(
        select(func.count(Message.id), func.coalesce(func.sum(func.length(Message.body)), 0)).where(
            Message.thread_id.in_(mine)
        )
    ).one()
    threads = session.scalar(select(func.count()).select_from(mine.subquery()))
    return Usage(int(found[1]), int(found[0]) + int(threads or 0))

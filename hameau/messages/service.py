"""Threads and messages between members, with what each has read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.errors import BadRequest, NotFound
from hameau.messages.models import Draft, Message, Participant, Thread
from hameau.node.db import utcnow

MAX_BODY = 20_000


@dataclass(frozen=True)
class Summary:
    thread: Thread
    unread: int
    people: list[str]


def start(
    session: Session, author: Member, others: list[Member], subject: str, body: str
) -> Thread:
    subject = subject.strip()
    if not subject or len(subject) > 200:
        raise BadRequest("A conversation needs a subject of 1 to 200 characters.")
    if not others:
        raise BadRequest("Choose at least one person to write to.")
    thread = Thread(subject=subject, created_by=author.id)
    session.add(thread)
    session.flush()
    for member in {author.id: author, **{m.id: m for m in others}}.values():
        session.add(Participant(thread_id=thread.id, member_id=member.id))
    session.flush()
    post(session, author, thread, body)
    return thread


def get(session: Session, member: Member, thread_id: int) -> Thread:
    """The thread, if the member takes part in it (others get the same 404 as a missing one)."""
    thread = session.get(Thread, thread_id)
    if thread is None or session.get(Participant, (thread_id, member.id)) is None:
        raise NotFound("No such conversation.")
    return thread


def post(session: Session, author: Member, thread: Thread, body: str) -> Message:
    body = body.strip()
    if not body or len(body) > MAX_BODY:
        raise BadRequest("A message is 1 to 20,000 characters.")
    message = Message(thread_id=thread.id, author_id=author.id, body=body)
    session.add(message)
    thread.updated_at = utcnow()
    session.flush()
    mark_read(session, author, thread, message.id)
    return message


def messages(session: Session, thread: Thread, after: int = 0) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.thread_id == thread.id, Message.id > after)
            .order_by(Message.id)
        )
    )


PAGE = 100  # messages a conversation's page shows at once


def page(session: Session, thread: Thread, before: int | None = None) -> tuple[list[Message], bool]:
    """The last `PAGE` messages of the conversation (before the message ``before``), oldest
    first, and whether there are earlier ones: a household's everyday conversation grows for
    years, and its page stays the size of a page."""
    query = select(Message).where(Message.thread_id == thread.id)
    if before is not None:
        query = query.where(Message.id < before)
    found = list(session.scalars(query.order_by(Message.id.desc()).limit(PAGE + 1)))
    return found[:PAGE][::-1], len(found) > PAGE


def mark_read(session: Session, member: Member, thread: Thread, up_to: int) -> None:
    participant = session.get(Participant, (thread.id, member.id))
    if participant is not None and up_to > participant.last_read_id:
        participant.last_read_id = up_to


def inbox(session: Session, member: Member) -> list[Summary]:
    rows = session.execute(
        select(Thread, Participant.last_read_id)
        .join(Participant, Participant.thread_id == Thread.id)
        .where(Participant.member_id == member.id)
        .order_by(Thread.updated_at.desc())
    ).all()
    found = []
    for thread, last_read in rows:
        unread = session.scalar(
            select(func.count(Message.id)).where(
                Message.thread_id == thread.id, Message.id > last_read
            )
        )
        people = session.scalars(
            select(Member.display_name)
            .join(Participant, Participant.member_id == Member.id)
            .where(Participant.thread_id == thread.id, Member.id != member.id)
        )
        found.append(Summary(thread, int(unread or 0), list(people)))
    return found


def unread_total(session: Session, member: Member) -> int:
    return sum(summary.unread for summary in inbox(session, member))


def participants(session: Session, thread: Thread) -> list[int]:
    return list(
        session.scalars(
            select(Participant.member_id)
            .where(Participant.thread_id == thread.id)
            .order_by(Participant.member_id)  # one order on every database (an export compared)
        )
    )


def save_draft(
    session: Session,
    member: Member,
    place: str,
    body: str,
    subject: str = "",
    recipients: list[str] | None = None,
) -> None:
    """Keep what the member was writing; an empty draft is forgotten."""
    if len(body) > MAX_BODY:
        raise BadRequest("A message is 1 to 20,000 characters.")
    if len(subject) > 200:
        raise BadRequest("A conversation needs a subject of 1 to 200 characters.")
    names = [name[:40] for name in (recipients or [])][:50]
    found = session.get(Draft, (member.id, place))
    if not body.strip() and not subject.strip():
        if found is not None:
            session.delete(found)
        return
    if found is None:
        found = Draft(member_id=member.id, place=place)
        session.add(found)
    found.body, found.subject, found.recipients = body, subject, names
    found.updated_at = utcnow()


def draft(session: Session, member: Member, place: str) -> Draft | None:
    return session.get(Draft, (member.id, place))


def drop_draft(session: Session, member: Member, place: str) -> None:
    found = session.get(Draft, (member.id, place))
    if found is not None:
        session.delete(found)


def export(session: Session, member: Member) -> list[dict[str, object]]:
    """The member's conversations, as plain data."""
    names = {member_id: name for member_id, name in session.execute(select(Member.id, Member.name))}
    return [
        {
            "subject": summary.thread.subject,
            "with": summary.people,
            "messages": [
                {
                    "from": names.get(message.author_id or 0),
                    "at": message.created_at.isoformat(),
                    "body": message.body,
                }
                for message in messages(session, summary.thread)
            ],
        }
        for summary in inbox(session, member)
    ]

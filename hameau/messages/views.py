"""Messages pages: the inbox with unread counts, a conversation with live updates (SSE)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Form, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from hameau.accounts import members, workspace
from hameau.errors import N_
from hameau.messages import service as threads
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.openapi import RowId

# The last message a conversation's page shows: its live stream starts after it.
Shown = Annotated[int, Query(ge=0, le=2**63 - 1)]

router = APIRouter(include_in_schema=False)
NEW = "new"  # the draft place of a conversation not started yet


@router.get("/messages")
async def inbox(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    member = member_of(visitor)
    context = {
        "title": N_("Messages"),
        "threads": threads.inbox(db, member),
        "people": [m for m in members.list_members(db, active_only=True) if m.id != member.id],
        "draft": threads.draft(db, member, NEW),
    }
    return request.app.state.pages.render(request, "inbox.html", context)


@router.post("/messages/draft")
async def keep_new_draft(
    request: Request, db: DB, visitor: MemberVisitor,
    subject: Annotated[str, Form(max_length=300)] = "",
    body: Annotated[str, Form(max_length=threads.MAX_BODY * 2)] = "",
    back: Annotated[bool, Form()] = False,
) -> Response:  # fmt: skip
    """Keeps a conversation being started when its writer leaves (see idle.js); an empty
    one, from the page's "discard" button, forgets it."""
    form = await request.form()
    names = [str(name) for name in form.getlist("to")]
    threads.save_draft(db, member_of(visitor), NEW, body, subject, names)
    return _kept("/messages", back)


def _kept(page: str, back: bool) -> Response:
    """idle.js needs no page; the discard button goes back to where it was."""
    return RedirectResponse(page, status_code=303) if back else Response(status_code=204)


@router.post("/messages")
async def start(
    request: Request, db: DB, visitor: MemberVisitor,
    subject: Annotated[str, Form(max_length=300)],
    body: Annotated[str, Form(max_length=threads.MAX_BODY * 2)],
) -> Response:  # fmt: skip
    form = await request.form()
    names = [str(name) for name in form.getlist("to")][:50]
    others = [members.find_member(db, name) for name in names]
    thread = threads.start(db, member_of(visitor), [m for m in others if m.active], subject, body)
    threads.drop_draft(db, member_of(visitor), NEW)
    return RedirectResponse(f"/messages/{thread.id}", status_code=303)


@router.get("/messages/{thread_id}")
async def conversation(
    request: Request, db: DB, visitor: MemberVisitor, thread_id: RowId,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:  # fmt: skip
    """The conversation's last messages, or (``before``) the ones before a message."""
    member = member_of(visitor)
    thread = threads.get(db, member, thread_id)
    shown, earlier = threads.page(db, thread, before)
    if shown:
        threads.mark_read(db, member, thread, shown[-1].id)
    if visitor.login is not None:
        workspace.remember(
            db,
            visitor.login,
            "messages",
            request.url.path,
            item=str(thread.id),
            title=thread.subject,
        )
    authors = {m.id: m.display_name for m in members.list_members(db)}
    context = {
        "title": thread.subject, "thread": thread, "messages": shown, "authors": authors,
        "draft": threads.draft(db, member, str(thread.id)), "earlier": earlier,
        "latest": before is None,
    }  # fmt: skip
    return request.app.state.pages.render(request, "thread.html", context)


@router.post("/messages/{thread_id}/draft")
async def keep_reply_draft(
    db: DB, visitor: MemberVisitor, thread_id: RowId,
    body: Annotated[str, Form(max_length=threads.MAX_BODY * 2)] = "",
    back: Annotated[bool, Form()] = False,
) -> Response:  # fmt: skip
    """Keeps a reply being written when its writer leaves (see idle.js)."""
    member = member_of(visitor)
    thread = threads.get(db, member, thread_id)
    threads.save_draft(db, member, str(thread.id), body)
    return _kept(f"/messages/{thread.id}", back)


@router.post("/messages/{thread_id}")
async def reply(
    request: Request, db: DB, visitor: MemberVisitor, thread_id: RowId,
    body: Annotated[str, Form(max_length=threads.MAX_BODY * 2)],
) -> Response:  # fmt: skip
    thread = threads.get(db, member_of(visitor), thread_id)
    message = threads.post(db, member_of(visitor), thread, body)
    threads.drop_draft(db, member_of(visitor), str(thread.id))
    db.commit()  # committed before anyone is told
    request.app.state.bus.publish(thread.id, message.id)
    if request.headers.get("hx-request"):
        return Response(status_code=204)
    return RedirectResponse(f"/messages/{thread.id}", status_code=303)


@router.get("/messages/{thread_id}/events")
async def events(
    request: Request, db: DB, visitor: MemberVisitor, thread_id: RowId, after: Shown = 0
) -> Response:
    """New messages of the conversation as server-sent events, while the page stays open:
    those after ``after`` (the last one the page shows), or after the browser's
    `Last-Event-ID` when it reconnects."""
    member = member_of(visitor)
    thread = threads.get(db, member, thread_id)
    resume_from = request.headers.get("last-event-id", "")
    last = int(resume_from) if resume_from.isdigit() and len(resume_from) < 19 else after
    bus = request.app.state.bus
    sessions = request.app.state.node.sessions
    queue = bus.listen(thread.id)

    async def stream() -> AsyncIterator[str]:
        nonlocal last
        try:
            yield "retry: 5000\n\n"
            while True:
                with sessions() as session:
                    fresh = threads.messages(session, thread, after=last)
                    authors = {m.id: m.display_name for m in members.list_members(session)}
                    if fresh:
                        threads.mark_read(session, member, thread, fresh[-1].id)
                        session.commit()
                for message in fresh:
                    last = message.id
                    data = {
                        "id": message.id,
                        "author": authors.get(message.author_id or 0, "?"),
                        "body": message.body,
                    }
                    yield f"id: {message.id}\nevent: message\ndata: {json.dumps(data)}\n\n"
                await queue.get()
        finally:
            bus.leave(thread.id, queue)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )

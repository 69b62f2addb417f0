"""The AI's pages: ask, and the member's own history, which they can delete.

With htmx, asking posts the question (`hx-post`), which is kept for a moment under a one-use
id; the fragment returned opens a server-sent event stream on that id (htmx's SSE
extension), which brings the answer as it is written, then the documents it used. Without
scripts, the form posts and the whole answer comes on a new page.
"""

from __future__ import annotations

import contextlib
import html
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from hameau.ai import catalog, history, retrieval
from hameau.ai.runtime import (
    END_OF_TURN,
    Piece,
    Result,
    Ticket,
    gemma_prompt,
    installed,
    missing,
    unavailable,
)
from hameau.errors import N_, HameauError, NotFound
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.home import AppInfo, Tile

router = APIRouter(prefix="/ai", include_in_schema=False)

APP = AppInfo(
    "ai",
    (Tile(N_("AI"), N_("Questions answered from your own documents, on the home server."), "/ai"),),
)


def _page(request: Request, db: DB, **context: object) -> Response:
    node = request.app.state.node
    runtime = request.app.state.ai
    blocked = missing(node)
    values = {
        "title": N_("AI"),
        "models": catalog.available(node),
        "default": node.settings.ai_model,
        "loaded": runtime.loaded_name,
        "failure": blocked or runtime.failure,
        "blocked": blocked,  # nothing can answer: the form is disabled, the reason said
        "runtime": node.settings.ai_backend_url or runtime.engine.label,
        "runtime_missing": not node.settings.ai_backend_url and not installed(node.settings),
        "outside": history.sent_outside(db),
        "backend": node.settings.ai_backend_url,
        **context,
    }
    return request.app.state.pages.render(
        request, "ai.html", values, int(str(context.get("status_code", 200)))
    )


@router.get("")
async def ai_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    member_of(visitor)
    return _page(request, db)


@dataclass
class Asked:
    member_id: int
    question: str
    model: str
    message: str  # the question, with the extracts of the member's documents if searched
    sources: list[dict[str, object]]
    at: float = field(default_factory=time.monotonic)


class Asks:
    """Questions posted and not yet streamed: each is taken once, by its member, within a
    minute (a page that never opens its stream leaves nothing behind for long)."""

    LIMIT, SECONDS = 64, 60.0

    def __init__(self) -> None:
        self._asked: dict[str, Asked] = {}

    def put(self, asked: Asked) -> str:
        now = time.monotonic()
        for key in [k for k, v in self._asked.items() if now - v.at > self.SECONDS]:
            del self._asked[key]
        while len(self._asked) >= self.LIMIT:
            del self._asked[next(iter(self._asked))]
        key = secrets.token_urlsafe(16)
        self._asked[key] = asked
        return key

    def take(self, key: str, member_id: int) -> Asked:
        asked = self._asked.get(key)
        if asked is None or asked.member_id != member_id:
            raise NotFound("This question was already answered or has expired; ask it again.")
        del self._asked[key]
        return asked


def _event(name: str, fragment: str) -> bytes:
    """One server-sent event carrying HTML (each line of it a `data:` line)."""
    lines = "".join(f"data: {line}\n" for line in fragment.split("\n"))
    return f"event: {name}\n{lines}\n".encode()


def _sources_html(sources: list[dict[str, object]]) -> str:
    return "".join(
        f"<li>[{source['number']}] {html.escape(str(source['title']))}</li>" for source in sources
    )


@router.post("")
async def ask(
    request: Request,
    db: DB,
    visitor: MemberVisitor,
    question: Annotated[str, Form(max_length=4000)],
    model: Annotated[str, Form(max_length=200)] = "",
    retrieval_on: Annotated[str, Form(alias="retrieval")] = "",
) -> Response:
    """With htmx: a fragment that streams the answer; without scripts: the whole answer on a
    new page."""
    member_id = member_of(visitor).id
    hits = retrieval.sources_for(db, member_id, question) if retrieval_on else []
    sources = retrieval.cited(hits)
    db.rollback()
    node = request.app.state.node
    asked = Asked(member_id, question, model or node.settings.ai_model,
                  retrieval.prompt_with(question, hits), sources)  # fmt: skip
    try:
        why = missing(node)
        if why is not None:
            raise unavailable(why)
        if request.app.state.ai_backend is None:
            catalog.find(node, asked.model)
        if request.headers.get("hx-request"):
            key = request.app.state.ai_asks.put(asked)
            return request.app.state.pages.render(
                request, "ai_answer.html", {"key": key, "question": question}
            )
        result = Result()
        async for item in _answer(request, asked):
            if isinstance(item, Result):
                result = item
    except HameauError as error:
        gettext = request.app.state.pages.gettext(request)
        if request.headers.get("hx-request"):  # htmx swaps only a 2xx: the reason is shown
            said = html.escape(error.render(gettext))
            return Response(f'<p class="error" role="alert">{said}</p>', media_type="text/html")
        return _page(
            request, db, question=question, status=error.render(gettext), status_code=error.status
        )
    return _page(request, db, question=question, answer=result.text, sources=sources)


async def _answer(request: Request, asked: Asked) -> AsyncGenerator[Piece | Result, None]:
    """The answer to a question from the page, by the node's runtime or the household's AI
    server, logged in the member's history — with what was written by then if the reader
    left early."""
    runtime, remote = request.app.state.ai, request.app.state.ai_backend
    ticket: Ticket | None = None
    if remote is not None:
        message = {"role": "user", "content": asked.message}
        pieces = remote.pieces({"model": asked.model, "messages": [message]})
    else:
        ticket = runtime.reserve()
        prompt = gemma_prompt([{"role": "user", "content": asked.message}])
        pieces = runtime.complete(ticket, asked.model, prompt, None, 0.7, [END_OF_TURN])
    result, began = Result(), False
    try:
        async for item in pieces:
            began = True
            if isinstance(item, Piece):
                result.text += item.text
            else:
                result = item
            yield item
    finally:
        if ticket is not None:
            runtime.release(ticket)
        if began:  # a request refused before any answer is not in the history
            history.record(request.app.state.node, asked.member_id, "chat", asked.model,
                           asked.question, result, asked.sources,
                           ran_on=remote.url if remote else "here")  # fmt: skip


@router.get("/answers/{key}")
async def answer_stream(request: Request, visitor: MemberVisitor, key: str) -> Response:
    """The answer to a question just posted, as server-sent events: `piece` (text to add),
    `sources`, `status` (what it cost, or why there is no answer), then `done`. A failure is
    said in `status`, on a 200 stream: an event source would otherwise ask again and again."""
    member_id = member_of(visitor).id
    gettext = request.app.state.pages.gettext(request)

    async def events() -> AsyncIterator[bytes]:
        said = ""
        try:
            asked = request.app.state.ai_asks.take(key, member_id)
            result = Result()
            async with contextlib.aclosing(_answer(request, asked)) as answer:
                async for item in answer:  # closed at once if the reader leaves
                    if isinstance(item, Piece):
                        yield _event("piece", html.escape(item.text))
                    else:
                        result = item
            if asked.sources:
                yield _event("sources", _sources_html(asked.sources))
            said = gettext(
                "%(tokens)s tokens in %(seconds)s s, about %(mwh)s mWh (an estimate)."
            ) % {"tokens": result.completion_tokens, "seconds": f"{result.seconds:.1f}",
                 "mwh": f"{result.energy_wh * 1000:.2f}"}  # fmt: skip
        except HameauError as error:
            said = error.render(gettext)
        yield _event("status", html.escape(said))
        yield _event("done", "")

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


@router.get("/history")
async def history_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    queries = history.of(db, member_of(visitor).id)
    return request.app.state.pages.render(
        request, "ai_history.html", {"title": N_("My AI history"), "queries": queries}
    )


@router.post("/history/{query_id}/delete")
async def forget_one(db: DB, visitor: MemberVisitor, query_id: int) -> Response:
    history.forget(db, member_of(visitor).id, query_id)
    return RedirectResponse("/ai/history", status_code=303)


@router.post("/history/delete")
async def forget_all(db: DB, visitor: MemberVisitor) -> Response:
    history.forget(db, member_of(visitor).id)
    return RedirectResponse("/ai/history", status_code=303)


def attach(app: Any, node: Any) -> None:
    """The AI's part of the served app (hameau/parts.py): the runtime loads nothing until the
    AI is asked, and lets the model go (its server process stopped) at the end."""
    from hameau.ai.backend import Backend
    from hameau.ai.runtime import Runtime

    app.state.ai = Runtime(node)
    app.state.ai_backend = Backend(node) if node.settings.ai_backend_url else None
    app.state.ai_asks = Asks()  # questions posted from the AI page, until their answer streams
    app.state.stops.append(app.state.ai.close)

"""The AI's pages: ask, and the member's own history, which they can delete.

An answer leads with what was found in the member's documents — the sentences that matched,
their words marked, with their source — at once, with or without a model; the model's text
follows, labelled as written by a small model (with a larger model of the household's, or
the household's AI server, its answer comes first). With htmx, asking posts the question
(`hx-post`), kept for a moment under a one-use id; the fragment returned shows the sentences
found and opens a server-sent event stream on that id (htmx's SSE extension), which brings
the answer as it is written. Without scripts, the form posts and the whole answer comes on a
new page. Without a model, the sentences found are shown with the reason there is no answer.

The model list also offers the models paired homes opened to this one ("HOME/model"): the
question is then answered there (`hameau.ai.elsewhere`), and the history says so.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Form
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from hameau.ai import answering, catalog, elsewhere, history, retrieval
from hameau.ai.engines import Piece, Result, installed
from hameau.ai.runtime import missing
from hameau.errors import N_, HameauError
from hameau.search import passages
from hameau.search.index import Hit
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.openapi import RowId

router = APIRouter(prefix="/ai", include_in_schema=False)


async def _page(request: Request, db: DB, **context: object) -> Response:
    node = request.app.state.node
    offers = await request.app.state.ai_offers.of(node)  # before any read: it may wait on peers
    runtime = request.app.state.ai
    blocked = missing(node)
    values = {
        "title": N_("AI"),
        "models": catalog.available(node),
        "default": node.settings.ai_model,
        "loaded": runtime.loaded_name,
        "failure": blocked or runtime.failure,
        "blocked": blocked,  # nothing can answer: the form only searches, the reason said
        "runtime": runtime.engine.label,
        "runtime_missing": not installed(node.settings),
        "outside": history.sent_outside(db),
        "backend": node.settings.ai_backend_url,
        "offers": offers,  # the models other homes opened to this one
        **context,
    }
    return request.app.state.pages.render(
        request, "ai.html", values, int(str(context.get("status_code", 200)))
    )


@router.get("")
async def ai_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    member_of(visitor)
    return await _page(request, db)


def _event(name: str, fragment: str) -> bytes:
    """One server-sent event carrying HTML (each line of it a `data:` line)."""
    lines = "".join(f"data: {line}\n" for line in fragment.split("\n"))
    return f"event: {name}\n{lines}\n".encode()


def _marked(line: str) -> Markup:
    """A found sentence, escaped, its matched words in <mark>."""
    said = str(escape(line)).replace(passages.OPEN, "<mark>").replace(passages.CLOSE, "</mark>")
    return Markup(said)  # noqa: S704 (escaped above; only our own marks become tags)


def found(hits: list[Hit]) -> list[dict[str, Any]]:
    """The sentences found in the member's documents, as the page shows them."""
    return [
        {"number": number, "title": hit.title, "kind": hit.kind,
         "href": f"/notes/{hit.ref}" if hit.kind == "note" else f"/files/item/{hit.ref}",
         "lines": [_marked(line) for line in hit.lines]}
        for number, hit in enumerate(hits, 1)
    ]  # fmt: skip


def _small(request: Request, model: str) -> bool:
    """Whether the answer comes from a small model, whose text goes below what was found."""
    engine = request.app.state.ai.engine
    if not engine.local:
        return False  # the household's AI server: a bigger machine, a bigger model
    with contextlib.suppress(HameauError):
        return catalog.small(catalog.find(request.app.state.node, model))
    return True


@router.post("")
async def ask(
    request: Request,
    db: DB,
    visitor: MemberVisitor,
    question: Annotated[str, Form(max_length=4000)],
    model: Annotated[str, Form(max_length=200)] = "",
    retrieval_on: Annotated[str, Form(alias="retrieval")] = "",
) -> Response:
    """With htmx: a fragment with the sentences found that streams the answer; without
    scripts: the whole answer on a new page. A refusal (no model, busy) still shows what was
    found."""
    member_id = member_of(visitor).id
    hits = retrieval.sources_for(db, member_id, question) if retrieval_on else None
    db.rollback()
    node, runtime = request.app.state.node, request.app.state.ai
    at, model = elsewhere.where(node, model, None)
    asked = answering.chat(runtime, member_id, model, [{"role": "user", "content": question}],
                           hits, at=at)  # fmt: skip
    card = {"question": question, "found": found(hits or []), "searched": hits is not None,
            "model": model, "at": at, "small": at == "here" and _small(request, model)}  # fmt: skip
    htmx = bool(request.headers.get("hx-request"))
    try:
        if htmx:
            answering.ready(node, runtime, model, at)
            card["key"] = request.app.state.ai_asks.put(asked)
        else:
            card["answer"] = (await answering.whole(answering.answer(node, runtime, asked))).text
    except HameauError as error:
        card["status"] = error.render(request.app.state.pages.gettext(request))
        if not htmx:  # the page's HTTP status says it too (503, 404)
            card["status_code"] = error.status
    if htmx:  # htmx swaps only a 2xx: a refusal is said in the fragment
        return request.app.state.pages.render(request, "ai_answer.html", card)
    return await _page(request, db, **card)


@router.get("/answers/{key}")
async def answer_stream(request: Request, visitor: MemberVisitor, key: str) -> Response:
    """The answer to a question just posted, as server-sent events: `piece` (text to add),
    `status` (what it cost, or why there is no answer), then `done`. A failure is
    said in `status`, on a 200 stream: an event source would otherwise ask again and again."""
    member_id = member_of(visitor).id
    gettext = request.app.state.pages.gettext(request)

    async def events() -> AsyncIterator[bytes]:
        said = ""
        try:
            asked = request.app.state.ai_asks.take(key, member_id)
            result = Result()
            node, runtime = request.app.state.node, request.app.state.ai
            answer = answering.answer(node, runtime, asked)
            async with contextlib.aclosing(answer):  # closed at once if the reader leaves
                async for item in answer:
                    if isinstance(item, Piece):
                        yield _event("piece", html.escape(item.text))
                    else:
                        result = item
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
        request, "ai_history.html",
        {"title": N_("My AI history"), "queries": queries, "answered_at": elsewhere.answered_at},
    )  # fmt: skip


@router.post("/history/{query_id}/delete")
async def forget_one(db: DB, visitor: MemberVisitor, query_id: RowId) -> Response:
    history.forget(db, member_of(visitor).id, query_id)
    return RedirectResponse("/ai/history", status_code=303)


@router.post("/history/delete")
async def forget_all(db: DB, visitor: MemberVisitor) -> Response:
    history.forget(db, member_of(visitor).id)
    return RedirectResponse("/ai/history", status_code=303)

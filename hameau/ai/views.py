"""The AI's pages: ask (answers streamed by the page's script, or the whole answer without
scripts), and the member's own history, which they can delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.ai import catalog, history, retrieval
from hameau.ai.runtime import END_OF_TURN, Piece, Result, gemma_prompt
from hameau.errors import N_, HameauError
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.home import AppInfo, Tile

router = APIRouter(prefix="/ai", include_in_schema=False)

APP = AppInfo(
    "ai",
    (Tile(N_("AI"), N_("Questions answered from your own documents, on this node."), "/ai"),),
)


def _page(request: Request, db: DB, **context: object) -> Response:
    node = request.app.state.node
    runtime = request.app.state.ai
    values = {
        "title": N_("AI"),
        "models": catalog.available(node),
        "default": node.settings.ai_model,
        "loaded": runtime.loaded_name,
        "failure": runtime.failure,
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


@router.post("")
async def ask(
    request: Request,
    db: DB,
    visitor: MemberVisitor,
    question: Annotated[str, Form(max_length=4000)],
    model: Annotated[str, Form(max_length=200)] = "",
    retrieval_on: Annotated[str, Form(alias="retrieval")] = "",
) -> Response:
    """Without scripts: the whole answer on a new page."""
    member_id = member_of(visitor).id
    hits = retrieval.sources_for(db, member_id, question) if retrieval_on else []
    sources = retrieval.cited(hits)
    db.rollback()
    node = request.app.state.node
    runtime = request.app.state.ai
    chosen = model or node.settings.ai_model
    result = Result()
    try:
        catalog.find(node, chosen)
        ticket = runtime.reserve()
        prompt = gemma_prompt([{"role": "user", "content": retrieval.prompt_with(question, hits)}])
        try:
            async for item in runtime.complete(ticket, chosen, prompt, None, 0.7, [END_OF_TURN]):
                if not isinstance(item, Piece):
                    result = item
        finally:
            runtime.release(ticket)
    except HameauError as error:
        gettext = request.app.state.pages.gettext(request)
        return _page(
            request, db, question=question, status=error.render(gettext), status_code=error.status
        )
    history.record(node, member_id, "chat", chosen, question, result, sources)
    return _page(request, db, question=question, answer=result.text, sources=sources)


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

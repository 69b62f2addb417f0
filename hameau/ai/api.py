"""The OpenAI-compatible API: `/v1/models`, `/v1/chat/completions` (streamed as server-sent
events, or not), `/v1/completions`, `/v1/embeddings`. Every route takes a member's app
password as a bearer token (or a logged-in browser); nothing answers without one.

Beyond OpenAI's fields, a chat request may say `"retrieval": true`: the member's own notes
and files (and the household's files) are searched for the question, the passages found go
before it, and the answer lists them in `sources`. Every request is logged in the member's
own AI history (`hameau.ai.history`), which `GET /api/ai/history` gives back.

A chat may be answered at a paired home that opened its AI to this one: model
"HOME/model" (as `/v1/models` lists it) or `"at": "HOME"` (`hameau.ai.elsewhere`).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hameau.ai import answering, catalog, elsewhere, history, retrieval
from hameau.ai.answering import Asked
from hameau.ai.engines import Piece, Result
from hameau.ai.runtime import Runtime, missing, unavailable
from hameau.errors import BadRequest
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.openapi import errors, openai_errors

router = APIRouter(prefix="/v1", tags=["ai"])
history_router = APIRouter(prefix="/api/ai", tags=["ai"])
# An answer as JSON, or as server-sent events with "stream": true; the model may be busy.
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
    **openai_errors(400, 403, 404, 429, 502, 503),
}
MAX_TEXT = 200_000  # characters; bodies are bounded before (max_form_bytes, 413)
# Stop sequences: OpenAI takes four; each is looked for after every token an engine makes.
Stop = Annotated[str, Field(max_length=200)]
Stops = Annotated[list[Stop], Field(max_length=16)] | Stop | None


def runtime(request: Request) -> Runtime:
    return request.app.state.ai  # type: ignore[no-any-return]


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_TEXT)


class ChatIn(BaseModel):
    model: str | None = None
    messages: list[Message] = Field(min_length=1, max_length=200)
    max_tokens: Annotated[int, Field(ge=1, le=8192)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    stream: bool = False
    stop: Stops = None
    retrieval: bool = False  # hameau: answer from the member's own documents
    at: str | None = Field(None, max_length=100)  # hameau: a paired home answers ("here")


class CompletionIn(BaseModel):
    model: str | None = None
    prompt: str = Field(max_length=MAX_TEXT)
    max_tokens: Annotated[int, Field(ge=1, le=8192)] | None = 16
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    stream: bool = False
    stop: Stops = None


class EmbeddingIn(BaseModel):
    model: str | None = None
    # One text, or up to 256; each of at most MAX_TEXT characters (checked by the route, in
    # a sentence). A bound on the union itself would hold a lone text to 256 characters.
    input: str | Annotated[list[str], Field(max_length=256)]


def _stops(stop: Stops) -> list[str]:
    return [stop] if isinstance(stop, str) else list(stop or [])


def _able(request: Request) -> None:
    """503 with why nothing here can answer (no model, no engine) and what to run."""
    why = missing(request.app.state.node)
    if why is not None:
        raise unavailable(why)


@router.get("/models", responses=openai_errors(502, 503))
async def models(request: Request, visitor: MemberVisitor) -> dict[str, Any]:
    """503 rather than an empty list when nothing can answer: clients show the error's
    message, while an empty list only leaves an empty model picker."""
    member_of(visitor)
    engine = runtime(request).engine
    elsewhere_ = await _elsewhere(request)
    if not engine.local:  # the household's server lists its own models
        found = await engine.models()  # type: ignore[attr-defined]
        return {**found, "data": [*found.get("data", []), *elsewhere_]}  # type: ignore[no-any-return]
    if not elsewhere_:
        _able(request)
    loaded = runtime(request).loaded_name
    return {
        "object": "list",
        "data": [
            *({"id": model.name, "object": "model", "created": 0, "owned_by": "hameau",
               "size": model.size, "loaded": model.name == loaded}
              for model in catalog.available(request.app.state.node)),
            *elsewhere_,
        ],
    }  # fmt: skip


async def _elsewhere(request: Request) -> list[dict[str, Any]]:
    """The models paired homes opened to this one, named "HOME/model"."""
    offers = await request.app.state.ai_offers.of(request.app.state.node)
    return [
        {"id": f"{offer.peer}/{name}", "object": "model", "created": 0, "owned_by": offer.peer,
         "left_today": offer.left_today}
        for offer in offers for name in offer.models
    ]  # fmt: skip


def _usage(result: Result) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def _sse(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


def _chunk(ident: str, asked: Asked, text: str | None, finish: str | None) -> dict[str, Any]:
    """One piece of the answer in OpenAI's shape (a chat's delta, or a completion's text)."""
    created = int(time.time())
    if asked.kind == "chat":
        delta = {"content": text} if text is not None else {}
        return {"id": ident, "object": "chat.completion.chunk", "created": created,
                "model": asked.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return {"id": ident, "object": "text_completion", "created": created, "model": asked.model,
            "choices": [{"index": 0, "text": text or "", "finish_reason": finish}]}  # fmt: skip


async def _events(
    pieces: AsyncGenerator[Piece | Result, None], asked: Asked, ident: str
) -> AsyncIterator[bytes]:
    """The answer as server-sent events; the history is written before `[DONE]` (a client
    may look at once), or when the reader leaves, with what was written by then."""
    async with contextlib.aclosing(pieces):
        result = Result()
        async for item in pieces:
            if isinstance(item, Result):
                result = item
                continue
            if not result.text and asked.kind == "chat":
                first = _chunk(ident, asked, None, None)
                first["choices"][0]["delta"] = {"role": "assistant", "content": ""}
                yield _sse(first)
            result.text += item.text
            yield _sse(_chunk(ident, asked, item.text, None))
        final = _chunk(ident, asked, None, result.finish_reason)
        final["usage"], final["sources"] = _usage(result), asked.sources
        yield _sse(final)
        yield _sse("[DONE]")


async def respond(request: Request, asked: Asked, stream: bool) -> Response | dict[str, Any]:
    """Answer one request through the one answering path, streamed or not."""
    pieces = answering.answer(request.app.state.node, runtime(request), asked)  # 404, 503 now
    ident = f"{'chatcmpl' if asked.kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex[:24]}"
    if stream:
        return StreamingResponse(
            _events(pieces, asked, ident),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )
    result = await answering.whole(pieces)
    body = _chunk(ident, asked, result.text, result.finish_reason)
    if asked.kind == "chat":
        body["object"] = "chat.completion"
        body["choices"][0] = {
            "index": 0,
            "message": {"role": "assistant", "content": result.text},
            "finish_reason": result.finish_reason,
        }
    body["usage"], body["sources"] = _usage(result), asked.sources
    return body


@router.post("/chat/completions", response_model=None, responses=ANSWERS)
async def chat(
    request: Request, db: DB, visitor: MemberVisitor, body: ChatIn
) -> Response | dict[str, Any]:
    member_id = member_of(visitor).id
    messages = [message.model_dump() for message in body.messages]
    hits = None
    if body.retrieval:
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if not question:
            raise BadRequest("Ask a question in a user message to search your documents.")
        hits = retrieval.sources_for(db, member_id, question)
    db.rollback()  # no transaction held while the model thinks
    at, model = elsewhere.where(request.app.state.node, body.model, body.at)
    asked = answering.chat(
        runtime(request), member_id, model, messages, hits, max_tokens=body.max_tokens,
        temperature=body.temperature, stop=_stops(body.stop), at=at,
    )  # fmt: skip
    return await respond(request, asked, body.stream)


@router.post("/completions", response_model=None, responses=ANSWERS)
async def completions(
    request: Request, db: DB, visitor: MemberVisitor, body: CompletionIn
) -> Response | dict[str, Any]:
    member_id = member_of(visitor).id
    db.rollback()
    model = body.model or request.app.state.node.settings.ai_model
    job = runtime(request).job(body.prompt, body.max_tokens, body.temperature, _stops(body.stop))
    return await respond(
        request, Asked(member_id, "completion", model, body.prompt, job), body.stream
    )


@router.post("/embeddings", responses=openai_errors(400, 404, 502, 503))
async def embeddings(
    request: Request, db: DB, visitor: MemberVisitor, body: EmbeddingIn
) -> dict[str, Any]:
    member_id = member_of(visitor).id
    db.rollback()
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or any(len(text) > MAX_TEXT for text in texts):
        raise BadRequest("Give one or more texts of at most %(max)s characters.", max=MAX_TEXT)
    model = body.model or request.app.state.node.settings.ai_model
    node = request.app.state.node
    vectors, result = await answering.embed(node, runtime(request), member_id, model, texts)
    tokens = result.prompt_tokens
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


@history_router.get("/history", responses=errors(401))
async def history_api(db: DB, visitor: MemberVisitor) -> dict[str, Any]:
    """The member's own AI history, newest first: each request, where it was answered
    (`answered_at`: "here", the household's AI server, or a paired home's name)."""
    return {
        "history": [
            {"id": query.id, "created_at": query.created_at.isoformat(), "kind": query.kind,
             "model": query.model, "question": query.question, "answer": query.answer,
             "sources": query.sources, "prompt_tokens": query.prompt_tokens,
             "completion_tokens": query.completion_tokens,
             "answered_at": elsewhere.answered_at(query.ran_on) or query.ran_on}
            for query in history.of(db, member_of(visitor).id)
        ]
    }  # fmt: skip

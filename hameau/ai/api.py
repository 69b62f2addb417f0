"""The OpenAI-compatible API: `/v1/models`, `/v1/chat/completions` (streamed as server-sent
events, or not), `/v1/completions`, `/v1/embeddings`. Every route takes a member's app
password as a bearer token (or a logged-in browser); nothing answers without one.

Beyond OpenAI's fields, a chat request may say `"retrieval": true`: the member's own notes
and files (and the household's files) are searched for the question, the passages found go
before it, and the answer lists them in `sources`. Every request is logged in the member's
own AI history (`hameau.ai.history`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hameau.ai import catalog, history, retrieval
from hameau.ai.backend import Backend
from hameau.ai.runtime import (
    END_OF_TURN,
    Piece,
    Result,
    Runtime,
    gemma_prompt,
    missing,
    unavailable,
)
from hameau.errors import BadRequest
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.openapi import openai_errors

router = APIRouter(prefix="/v1", tags=["ai"])
# An answer as JSON, or as server-sent events with "stream": true; the model may be busy.
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
    **openai_errors(400, 404, 502, 503),
}
MAX_TEXT = 200_000  # characters; bodies are bounded before (max_form_bytes, 413)


def runtime(request: Request) -> Runtime:
    return request.app.state.ai  # type: ignore[no-any-return]


def backend(request: Request) -> Backend | None:
    return request.app.state.ai_backend  # type: ignore[no-any-return]


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_TEXT)


class ChatIn(BaseModel):
    model: str | None = None
    messages: list[Message] = Field(min_length=1, max_length=200)
    max_tokens: Annotated[int, Field(ge=1, le=8192)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    stream: bool = False
    stop: list[str] | str | None = None
    retrieval: bool = False  # hameau: answer from the member's own documents


class CompletionIn(BaseModel):
    model: str | None = None
    prompt: str = Field(max_length=MAX_TEXT)
    max_tokens: Annotated[int, Field(ge=1, le=8192)] | None = 16
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    stream: bool = False
    stop: list[str] | str | None = None


class EmbeddingIn(BaseModel):
    model: str | None = None
    input: str | list[str] = Field(max_length=256)


def _stops(stop: list[str] | str | None, chat: bool) -> list[str]:
    found = [stop] if isinstance(stop, str) else list(stop or [])
    return [*found, END_OF_TURN, "<start_of_turn>"] if chat else found


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
    remote = backend(request)
    if remote is not None:
        return await remote.call("GET", "/models")  # type: ignore[no-any-return]
    _able(request)
    loaded = runtime(request).loaded_name
    return {
        "object": "list",
        "data": [
            {"id": model.name, "object": "model", "created": 0, "owned_by": "hameau",
             "size": model.size, "loaded": model.name == loaded}
            for model in catalog.available(request.app.state.node)
        ],
    }  # fmt: skip


def _usage(result: Result) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def _sse(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


async def answer(
    request: Request,
    member_id: int,
    kind: str,
    model: str,
    prompt: str,
    question: str,
    sources: list[dict[str, object]],
    max_tokens: int | None,
    temperature: float,
    stop: list[str],
    stream: bool,
    payload: dict[str, Any],
) -> Response | dict[str, Any]:
    """Run one completion, streamed or not, and log it in the member's history."""
    remote = backend(request)
    if remote is not None:
        return await forward(request, remote, member_id, kind, question, sources, stream, payload)
    ai = runtime(request)
    _able(request)
    catalog.find(request.app.state.node, model)  # 404 before queueing for a model not here
    ticket = ai.reserve()
    ident = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    node = request.app.state.node

    def chunk(text: str | None, finish: str | None) -> dict[str, Any]:
        if kind == "chat":
            delta = {"content": text} if text is not None else {}
            return {"id": ident, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
        return {"id": ident, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": 0, "text": text or "", "finish_reason": finish}]}  # fmt: skip

    if stream:

        async def events() -> AsyncIterator[bytes]:
            result, logged = Result(), False

            def record() -> bool:
                history.record(node, member_id, kind, model, question, result, sources)
                return True

            try:
                if kind == "chat":
                    first = chunk(None, None)
                    first["choices"][0]["delta"] = {"role": "assistant", "content": ""}
                    yield _sse(first)
                async for item in ai.complete(ticket, model, prompt, max_tokens, temperature, stop):
                    if isinstance(item, Piece):
                        yield _sse(chunk(item.text, None))
                    else:
                        result = item
                final = chunk(None, result.finish_reason)
                final["usage"], final["sources"] = _usage(result), sources
                yield _sse(final)
                logged = record()  # before the end is said: a client may look at once
                yield _sse("[DONE]")
            finally:
                ai.release(ticket)
                if not logged:  # the reader left early: what was made is logged all the same
                    record()

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )
    try:
        result = Result()
        async for item in ai.complete(ticket, model, prompt, max_tokens, temperature, stop):
            if isinstance(item, Result):
                result = item
    finally:
        ai.release(ticket)
    history.record(node, member_id, kind, model, question, result, sources)
    body = chunk(result.text, result.finish_reason)
    if kind == "chat":
        body["object"] = "chat.completion"
        body["choices"][0] = {
            "index": 0,
            "message": {"role": "assistant", "content": result.text},
            "finish_reason": result.finish_reason,
        }
    body["usage"], body["sources"] = _usage(result), sources
    return body


@router.post("/chat/completions", response_model=None, responses=ANSWERS)
async def chat(
    request: Request, db: DB, visitor: MemberVisitor, body: ChatIn
) -> Response | dict[str, Any]:
    member = member_of(visitor)
    member_id = member.id
    messages = [message.model_dump() for message in body.messages]
    question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    sources: list[dict[str, object]] = []
    if body.retrieval:
        if not question:
            raise BadRequest("Ask a question in a user message to search your documents.")
        hits = retrieval.sources_for(db, member.id, question)
        sources = retrieval.cited(hits)
        messages[-1] = {**messages[-1], "content": retrieval.prompt_with(question, hits)}
    db.rollback()  # no transaction held while the model thinks
    model = body.model or request.app.state.node.settings.ai_model
    return await answer(
        request, member_id, "chat", model, gemma_prompt(messages), question, sources,
        body.max_tokens, body.temperature, _stops(body.stop, chat=True), body.stream,
        _payload(model, body.max_tokens, body.temperature, body.stop, messages=messages),
    )  # fmt: skip


@router.post("/completions", response_model=None, responses=ANSWERS)
async def completions(
    request: Request, db: DB, visitor: MemberVisitor, body: CompletionIn
) -> Response | dict[str, Any]:
    member_id = member_of(visitor).id
    db.rollback()
    model = body.model or request.app.state.node.settings.ai_model
    return await answer(
        request, member_id, "completion", model, body.prompt, body.prompt, [],
        body.max_tokens, body.temperature, _stops(body.stop, chat=False), body.stream,
        _payload(model, body.max_tokens, body.temperature, body.stop, prompt=body.prompt),
    )  # fmt: skip


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
    remote = backend(request)
    if remote is not None:
        started = time.perf_counter()
        data = await remote.call("POST", "/embeddings", {"model": model, "input": texts})
        result = Result(prompt_tokens=int((data.get("usage") or {}).get("prompt_tokens", 0)),
                        seconds=time.perf_counter() - started)  # fmt: skip
        history.record(request.app.state.node, member_id, "embedding", model, texts[0], result,
                       [], ran_on=remote.url)  # fmt: skip
        return data  # type: ignore[no-any-return]
    _able(request)
    catalog.find(request.app.state.node, model)
    ai = runtime(request)
    ticket = ai.reserve()
    try:
        vectors, result = await ai.embed(ticket, model, texts)
    finally:
        ai.release(ticket)
    tokens = result.prompt_tokens
    history.record(request.app.state.node, member_id, "embedding", model, texts[0], result, [])
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _payload(
    model: str,
    max_tokens: int | None,
    temperature: float,
    stop: list[str] | str | None,
    **content: Any,
) -> dict[str, Any]:
    """The request as sent on to the household's AI server (retrieval already applied)."""
    payload = {"model": model, "temperature": temperature, **content}
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    if stop:
        payload["stop"] = stop
    return payload


async def forward(
    request: Request,
    remote: Backend,
    member_id: int,
    kind: str,
    question: str,
    sources: list[dict[str, object]],
    stream: bool,
    payload: dict[str, Any],
) -> Response | dict[str, Any]:
    """The same request, answered by the household's AI server; logged as sent there."""
    path = "/chat/completions" if kind == "chat" else "/completions"
    node = request.app.state.node
    model = str(payload["model"])
    started = time.perf_counter()

    def text_of(choice: dict[str, Any]) -> str:
        if kind == "chat":
            return str((choice.get("message") or choice.get("delta") or {}).get("content") or "")
        return str(choice.get("text") or "")

    if not stream:
        data = await remote.call("POST", path, {**payload, "stream": False})
        usage = data.get("usage") or {}
        result = Result(
            text=text_of(data["choices"][0]) if data.get("choices") else "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=time.perf_counter() - started,
        )
        history.record(node, member_id, kind, model, question, result, sources, ran_on=remote.url)
        data["sources"] = sources
        return data  # type: ignore[no-any-return]

    async def events() -> AsyncIterator[bytes]:
        result, logged = Result(), False

        def record() -> bool:
            result.seconds = time.perf_counter() - started
            history.record(node, member_id, kind, model, question, result, sources,
                           ran_on=remote.url)  # fmt: skip
            return True

        try:
            async for chunk in remote.stream(path, {**payload, "stream": True}):
                for choice in chunk.get("choices") or []:
                    piece = text_of(choice)
                    if piece:
                        result.text += piece
                        result.completion_tokens += 1
                yield _sse(chunk)
            yield _sse({"object": "chat.completion.chunk" if kind == "chat" else "text_completion",
                        "model": model, "choices": [], "sources": sources})  # fmt: skip
            logged = record()  # before the end is said: a client may look at once
            yield _sse("[DONE]")
        finally:
            if not logged:  # the reader left early: logged all the same
                record()

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )

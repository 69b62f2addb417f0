"""One path for every question — from the AI page, the OpenAI-compatible API and the command
line: refused early if nothing can answer, a place in the queue, the completion by the
node's engine (a local model or the household's server), and the member's history.

Two more ways through it, for the hamlet: a member's question answered at another home
(`Asked.at`, sent by `hameau.ai.elsewhere`, kept in their history as answered there), and a
peer's question answered here (`Asked.log`: the lender's own log instead of a member's
history; no document of this node is searched for it, as only callers pass `hits`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

from hameau.ai import catalog, history, retrieval
from hameau.ai.engines import Job, Piece, Result
from hameau.ai.runtime import END_OF_TURN, Runtime, Ticket, gemma_prompt, missing, unavailable
from hameau.node.datadir import Node
from hameau.search.index import Hit

CHAT_STOPS = [END_OF_TURN, "<start_of_turn>"]


@dataclass
class Asked:
    """One request to answer, and what its history entry keeps."""

    member_id: int
    kind: str  # "chat", "completion" or "ask" (from the command line)
    model: str
    question: str  # the member's own words, as logged
    job: Job
    sources: list[dict[str, object]] = field(default_factory=list)
    at: str = "here"  # or the name of the paired home whose AI answers (hameau.ai.elsewhere)
    # Where the request is logged instead of the member's history (a peer's, at the lender).
    log: Callable[[Node, Asked, Result], None] | None = None


def chat(
    runtime: Runtime,
    member_id: int,
    model: str,
    messages: list[dict[str, str]],
    hits: list[Hit] | None = None,
    *,
    kind: str = "chat",
    max_tokens: int | None = None,
    temperature: float = 0.7,
    stop: list[str] | None = None,
    at: str = "here",
) -> Asked:
    """A chat, with the passages found in the member's documents put before its question
    (`hits`, when they were searched); answered here, or at the paired home `at`."""
    question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    if hits is not None:
        asking = {**messages[-1], "content": retrieval.prompt_with(question, hits)}
        messages = [*messages[:-1], asking]
    job = runtime.job(gemma_prompt(messages), max_tokens, temperature,
                      [*(stop or []), *CHAT_STOPS], messages)  # fmt: skip
    sources = retrieval.cited(hits or [])
    if at != "here":  # the extracts go with the question to the other home
        for source in sources:
            source["sent_to"] = at
    return Asked(member_id, kind, model, question, job, sources, at)


def ready(node: Node, runtime: Runtime, model: str, asked_at: str = "here") -> None:
    """Refuse before queueing: why nothing can answer (503), or a model not here (404)."""
    if asked_at != "here":
        return  # the other home says what it lacks
    why = missing(node)
    if why is not None:
        raise unavailable(why)
    if runtime.engine.local:
        catalog.find(node, model)


def answer(node: Node, runtime: Runtime, asked: Asked) -> AsyncGenerator[Piece | Result, None]:
    """The checks and a place in the queue now (so a refusal is a clean 404 or 503 before any
    answer starts), then the answer as it is written: pieces, then the Result."""
    if asked.at != "here":
        return _answered_elsewhere(node, asked)
    ready(node, runtime, asked.model)
    return _answered(node, runtime, runtime.reserve(), asked)


def _logged(node: Node, asked: Asked, result: Result, ran_on: str) -> None:
    if asked.log is not None:
        asked.log(node, asked, result)
    else:
        history.record(node, asked.member_id, asked.kind, asked.model, asked.question,
                       result, asked.sources, ran_on=ran_on)  # fmt: skip


async def _answered_elsewhere(node: Node, asked: Asked) -> AsyncGenerator[Piece | Result, None]:
    """Answered by the paired home `asked.at` (whole: its answer is signed as one), and kept
    in the member's history as answered there, even when that home refused or failed."""
    from hameau.ai import elsewhere

    result = Result()
    try:
        result = await elsewhere.ask(node, asked.member_id, asked.at, asked.model, asked.job)
        if result.text:
            yield Piece(result.text)
        yield result
    finally:
        _logged(node, asked, result, elsewhere.ran_on(asked.at))


async def _answered(
    node: Node, runtime: Runtime, ticket: Ticket, asked: Asked
) -> AsyncGenerator[Piece | Result, None]:
    """Logged in the member's history once it was handed to the engine, whatever happens next:
    with what was written by then if the reader left early or the engine failed (a question
    sent to the household's AI server has left the node, so the member must see it)."""
    result = Result()
    try:
        async for item in runtime.complete(ticket, asked.model, asked.job):
            if isinstance(item, Piece):
                result.text += item.text
            else:
                result = item
            yield item
    finally:
        runtime.release(ticket)
        _logged(node, asked, result, runtime.ran_on)


async def whole(answering: AsyncGenerator[Piece | Result, None]) -> Result:
    """The answer once it is all written."""
    result = Result()
    async for item in answering:
        if isinstance(item, Result):
            result = item
    return result


async def embed(
    node: Node, runtime: Runtime, member_id: int, model: str, texts: list[str]
) -> tuple[list[list[float]], Result]:
    """Embeddings of texts (llama-server in embedding mode), logged like a question."""
    ready(node, runtime, model)
    ticket = runtime.reserve()
    try:
        vectors, result = await runtime.embed(ticket, model, texts)
    finally:
        runtime.release(ticket)
    history.record(node, member_id, "embedding", model, texts[0], result, [],
                   ran_on=runtime.ran_on)  # fmt: skip
    return vectors, result

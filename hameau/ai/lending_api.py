"""The routes by which paired homes ask this node's AI (signed requests only, like every
route under /api/hamlet/): which models it opened to them, and a chat answered from the
model alone — no document of this node's members is ever searched for a peer's question.

Each request passes its peer's policy first (403 if the AI or the model is not open to it,
429 once its requests for the day are used), then takes the one answering path
(`hameau.ai.answering`) with the lender's log in place of a member's history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from hameau.ai import answering
from hameau.ai import lending as ai_lending
from hameau.ai.answering import Asked
from hameau.ai.engines import Result
from hameau.errors import BadRequest
from hameau.hamlet.api import SignedPeer, _answer
from hameau.node.datadir import Node
from hameau.node.db import retrying
from hameau.web.auth import DB
from hameau.web.openapi import errors

router = APIRouter(prefix="/api/hamlet/ai", tags=["hamlet"])
MAX_TEXT = 50_000


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_TEXT)


class ChatIn(BaseModel):
    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=100)
    pseudonym: str = Field(min_length=8, max_length=64)
    max_tokens: Annotated[int, Field(ge=1, le=8192)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    stop: list[str] = Field(default_factory=list, max_length=8)


class Said(BaseModel):
    role: str = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: Said
    finish_reason: str


class ChatOut(BaseModel):
    """OpenAI's shape of a chat's answer, with the lender's figures for it."""

    object: str = "chat.completion"
    model: str
    choices: list[Choice]
    usage: dict[str, int | float]


class OffersOut(BaseModel):
    models: list[str] = Field(description="The models open to the asking home; empty if none.")
    per_day: int
    left_today: int


CHAT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": ChatIn.model_json_schema()}},
}


@router.get("/models", response_model=OffersOut, responses=errors(401, 403))
async def models(request: Request, db: DB, peer: SignedPeer) -> Response:
    """The models this node's AI opened to the asking home, and its requests left today."""
    offer = ai_lending.offer_to(db, peer)
    return _answer(request, OffersOut(**offer.__dict__))


def _lender_log(peer_id: int, pseudonym: str) -> Any:
    def logged(node: Node, asked: Asked, result: Result) -> None:
        lent = ai_lending.Lent(
            peer_id, pseudonym, asked.model, asked.job.prompt, result.text,
            result.prompt_tokens, result.completion_tokens, result.cpu_seconds, result.seconds,
        )  # fmt: skip
        retrying(node.sessions, lambda db: ai_lending.record(db, lent))

    return logged


@router.post(
    "/chat",
    response_model=ChatOut,
    responses=errors(400, 401, 403, 404, 429, 503),
    openapi_extra={"requestBody": CHAT_BODY},
)
async def chat(request: Request, db: DB, peer: SignedPeer) -> Response:
    """A paired home's member asks this node's model (signed by their home, with a pseudonym):
    answered from the model alone, logged here as asked by that home, counted in its usage."""
    try:
        body = ChatIn.model_validate_json(await request.body())
    except ValidationError:
        raise BadRequest(
            "A question to this home's AI needs a model, messages and a pseudonym."
        ) from None
    node, runtime = request.app.state.node, request.app.state.ai
    peer_id = peer.id
    ai_lending.admit(db, peer, body.model)  # 403 or 429 here, or the request is counted
    answering.ready(node, runtime, body.model)  # 404 or 503 before it is counted
    db.commit()
    messages = [message.model_dump() for message in body.messages]
    # No hits: nothing of this node is searched for a peer's question.
    asked = answering.chat(
        runtime, 0, body.model, messages, None, kind="peer", max_tokens=body.max_tokens,
        temperature=body.temperature, stop=body.stop,
    )  # fmt: skip
    asked.log = _lender_log(peer_id, body.pseudonym)
    result = await answering.whole(answering.answer(node, runtime, asked))
    said = ChatOut(
        model=body.model,
        choices=[Choice(message=Said(content=result.text), finish_reason=result.finish_reason)],
        usage={"prompt_tokens": result.prompt_tokens,
               "completion_tokens": result.completion_tokens,
               "total_tokens": result.prompt_tokens + result.completion_tokens,
               "cpu_seconds": round(result.cpu_seconds, 3)},
    )  # fmt: skip
    return _answer(request, said)

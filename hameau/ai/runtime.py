"""Running models on the node's CPU: one model loaded at a time, on the first request that
needs it, unloaded after `ai_idle_seconds` without use (a timer, not a poll). Requests take
the engine's slots; beyond `ai_queue` waiting, the answer is 503 with Retry-After.

The engine that runs the model is chosen by `load_engine` below (llama.cpp's own
server as a child process by default; llama-cpp-python in the node's process; or the
household's OpenAI-compatible server). Nothing is started or imported until the AI is asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from hameau.ai import catalog, engines
from hameau.ai.engines import (  # noqa: F401 (re-exported: the names callers know)
    LLAMA_SERVER,
    Engine,
    Job,
    Key,
    Piece,
    Result,
    Unavailable,
    chosen,
    damaged,
    installed,
    unavailable,
)
from hameau.errors import HameauError, Phrase
from hameau.node.datadir import Node

END_OF_TURN = "<end_of_turn>"
RETRY_AFTER = "5"


def _give_back_memory() -> None:
    """Hand the freed heap back to the system (glibc keeps it otherwise), so the resident
    memory falls once a model is unloaded."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def loaded_file(node: Node) -> Path:
    """Where the server says which model it holds, for `hameau ai models` (another process)."""
    return catalog.folder(node) / ".loaded.json"


def loaded_by_server(node: Node) -> str | None:
    try:
        said = json.loads(loaded_file(node).read_text())
        os.kill(int(said["pid"]), 0)  # the server that wrote it still runs
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(said["model"])


class Busy(HameauError):
    status = 503


def missing(node: Node) -> Phrase | None:
    """Why the AI cannot answer before anything is tried (no model, no engine to run one),
    said on the page and by the API instead of an empty list or a 404; None when it can."""
    if node.settings.ai_backend_url:
        return None  # the household's AI server answers; it says what it lacks
    if not catalog.available(node):
        return Phrase(
            "no model is installed: run `pip install 'hameau[ai]'` for the default model, or"
            " put a GGUF file in %(folder)s",
            folder=str(catalog.folder(node)),
        )
    if installed(node.settings):
        return None
    return engines.not_installed(chosen(node.settings)[0])


@dataclass
class Ticket:
    """A place in the queue, taken before answering (so a full queue is a clean 503)."""

    runtime: Runtime
    used: bool = False


def gemma_prompt(messages: list[dict[str, str]]) -> str:
    """Chat messages in Gemma's turn format (the default model has no chat template)."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system").strip()
    turns = []
    for message in messages:
        if message["role"] == "system":
            continue
        role = "user" if message["role"] == "user" else "model"
        content = message["content"]
        if role == "user" and system:
            content, system = f"{system}\n\n{content}", ""
        turns.append(f"<start_of_turn>{role}\n{content}{END_OF_TURN}\n")
    return "".join(turns) + "<start_of_turn>model\n"


def load_engine(node: Node) -> Engine:
    """The engine for this node's settings; nothing is started or imported before it is asked."""
    label, binary = engines.chosen(node.settings)
    if label == engines.REMOTE:
        from hameau.ai.engines.openai_remote import OpenAIRemote

        return OpenAIRemote(node)
    if label == engines.LLAMA_CPP:
        from hameau.ai.engines.llama_cpp import LlamaCpp

        return LlamaCpp(node)
    from hameau.ai.engines.llama_server import LlamaServer

    return LlamaServer(node, binary)


class Runtime:
    """The queue in front of the engine, and the model's lifetime."""

    def __init__(self, node: Node) -> None:
        settings = node.settings
        self.node = node
        self.engine = load_engine(node)
        self.idle_seconds = settings.ai_idle_seconds
        self.queue_limit = settings.ai_queue
        self.max_tokens = settings.ai_max_tokens
        self._gate: asyncio.Condition | None = None
        self._waiting = 0
        self._active = 0
        self._timer: asyncio.TimerHandle | None = None
        self._unloading: asyncio.Task[None] | None = None
        self.failure: Phrase | None = None  # why the last load failed, said on the pages

    # -- taking turns

    @property
    def gate(self) -> asyncio.Condition:
        if self._gate is None:
            self._gate = asyncio.Condition()
        return self._gate

    def reserve(self) -> Ticket:
        if self._waiting >= self.queue_limit:
            raise Busy(
                "The AI is busy answering other requests; try again in a few seconds.",
                headers={"Retry-After": RETRY_AFTER},
            )
        self._waiting += 1
        return Ticket(self)

    def _may_enter(self, key: Key) -> bool:
        if self._active == 0:
            return True
        return self._active < self.engine.slots and self.engine.loaded == key

    @contextlib.asynccontextmanager
    async def turn(self, ticket: Ticket, name: str, embedding: bool) -> AsyncIterator[Engine]:
        """Wait for a slot on this model (a model is changed only when no one uses the other),
        load it if needed, and hold the slot; the ticket's place in the queue is given back."""
        assert not ticket.used, "a ticket is used once"
        key = (name, embedding)
        try:
            async with self.gate:
                await self.gate.wait_for(lambda: self._may_enter(key))
                self._active += 1
        finally:
            ticket.used = True
            self._waiting -= 1
        try:
            if self._unloading is not None:
                await self._unloading
            if self.engine.loaded != key:
                await self._load(key)
                async with self.gate:
                    self.gate.notify_all()  # others waiting for this model may come in
            yield self.engine
        finally:
            async with self.gate:
                self._active -= 1
                self.gate.notify_all()
            self._schedule_unload()

    def release(self, ticket: Ticket) -> None:
        """A ticket given up before its turn (the request failed before answering)."""
        if not ticket.used:
            ticket.used = True
            self._waiting -= 1

    # -- loading and unloading

    @property
    def ran_on(self) -> str:
        """Where its answers are made, as the history keeps it: here, or the server's URL."""
        return "here" if self.engine.local else self.engine.label

    @property
    def loaded_name(self) -> str | None:
        return self.engine.loaded[0] if self.engine.loaded else None

    async def _load(self, key: Key) -> None:
        name, _ = key
        if not self.engine.local:  # the household's server loads its own models
            await self.engine.load(key, None)
            return
        found = catalog.find(self.node, name)
        await self.unload()
        try:
            path = await asyncio.to_thread(catalog.ready_path, self.node, found)
            await self.engine.load(key, path)
        except Unavailable as error:
            self.failure = error.params["why"]
            raise
        self.failure = None
        said = {"model": name, "pid": os.getpid(), "server_pid": getattr(self.engine, "pid", None)}
        loaded_file(self.node).write_text(json.dumps(said))

    def _schedule_unload(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.idle_seconds, self._unload_if_idle)

    def _unload_if_idle(self) -> None:
        self._timer = None
        if self._active == 0 and self._waiting == 0 and self.engine.loaded is not None:
            self._unloading = asyncio.get_running_loop().create_task(self.unload())

    async def unload(self) -> None:
        try:
            if self.engine.loaded is not None:
                await self.engine.unload()
                _give_back_memory()
                loaded_file(self.node).unlink(missing_ok=True)
        finally:
            self._unloading = None

    async def close(self) -> None:
        """At the node's end: the model let go (the child server stopped)."""
        if self._timer is not None:
            self._timer.cancel()
        await self.unload()

    # -- answering

    def job(
        self,
        prompt: str,
        max_tokens: int | None = None,
        temperature: float = 0.7,
        stop: list[str] | None = None,
        messages: list[dict[str, str]] | None = None,
    ) -> Job:
        """A completion to make, its length bounded by `ai_max_tokens`."""
        limit = min(max_tokens or self.max_tokens, self.max_tokens)
        return Job(prompt, limit, temperature, list(stop or []), messages)

    async def complete(self, ticket: Ticket, model: str, job: Job) -> AsyncIterator[Piece | Result]:
        """Pieces of text as they are made, then the Result; if the reader goes away, the
        generation stops at the next token."""
        async with self.turn(ticket, model, embedding=False) as engine:
            pieces = engine.generate(job)
            try:
                async for item in pieces:
                    yield item
            finally:
                await pieces.aclose()  # type: ignore[attr-defined]

    async def embed(
        self, ticket: Ticket, model: str, texts: list[str]
    ) -> tuple[list[list[float]], Result]:
        async with self.turn(ticket, model, embedding=True) as engine:
            return await engine.embed(texts)

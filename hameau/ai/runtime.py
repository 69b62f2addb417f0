"""Running models on the node's CPU: one model loaded at a time, on the first request that
needs it, unloaded after `ai_idle_seconds` without use (a timer, not a poll). Requests take
the engine's slots; beyond `ai_queue` waiting, the answer is 503 with Retry-After.

Two engines run the model (`ai_runtime`):
- llama.cpp's own server, `llama-server`, as a child process (`hameau.ai.child`): several
  requests at once in its parallel slots; it measured about twice the throughput with
  requests at once (docs/benchmarks.md), so it is used whenever one is found;
- llama-cpp-python in the node's process (`hameau.ai.inprocess`): one completion at a time.

Neither is started or imported until the AI is asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hameau.ai import build, catalog

# Shared with the engines, and named here too for the pages and the API.
from hameau.ai.answers import Key, Piece, Result, Unavailable
from hameau.ai.answers import damaged as damaged
from hameau.ai.answers import unavailable as unavailable
from hameau.config import Settings
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


class Engine(Protocol):
    """What runs a model: loads one, answers completions and embeddings, lets it go."""

    label: str  # as shown to members: "llama-server" or "llama-cpp-python"
    slots: int  # completions it answers at once
    loaded: Key | None

    async def load(self, key: Key, path: Path) -> None: ...

    def generate(
        self, prompt: str, max_tokens: int, temperature: float, stop: list[str]
    ) -> AsyncIterator[Piece | Result]: ...

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], Result]: ...

    async def unload(self) -> None: ...


def chosen(settings: Settings) -> tuple[str, Path | None]:
    """The engine `ai_runtime` asks for, and llama-server's binary if that is the one (None
    when it is missing); `auto` is llama-server when a binary is found."""
    binary = build.find_binary(settings.ai_server)
    if settings.ai_runtime == "llama-server" or (settings.ai_runtime == "auto" and binary):
        return "llama-server", binary
    return "llama-cpp-python", None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # blocked in sys.modules (None): not importable either
        return False


def installed(settings: Settings) -> bool:
    """Whether the engine `ai_runtime` picks is here (llama-server found, llama_cpp importable)."""
    label, binary = chosen(settings)
    return binary is not None if label == "llama-server" else _importable("llama_cpp")


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
    if chosen(node.settings)[0] == "llama-server":
        return Phrase(
            "llama-server is not installed: run `hameau ai install-server`, or set"
            ' ai_runtime = "llama-cpp-python"'
        )
    return Phrase(
        "no model runtime is installed: run `hameau ai install-server`, or pip install 'hameau[ai]'"
    )


def choose_engine(node: Node) -> Engine:
    label, binary = chosen(node.settings)
    if label == "llama-server":
        from hameau.ai.child import LlamaServer

        return LlamaServer(node, binary)
    from hameau.ai.inprocess import InProcess

    return InProcess(node)


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


class Runtime:
    """The queue in front of the engine, and the model's lifetime."""

    def __init__(self, node: Node) -> None:
        settings = node.settings
        self.node = node
        self.engine = choose_engine(node)
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
    def loaded_name(self) -> str | None:
        return self.engine.loaded[0] if self.engine.loaded else None

    async def _load(self, key: Key) -> None:
        name, _ = key
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

    async def complete(
        self,
        ticket: Ticket,
        model: str,
        prompt: str,
        max_tokens: int | None,
        temperature: float,
        stop: list[str],
    ) -> AsyncIterator[Piece | Result]:
        """Pieces of text as they are made, then the Result; if the reader goes away, the
        generation stops at the next token."""
        limit = min(max_tokens or self.max_tokens, self.max_tokens)
        async with self.turn(ticket, model, embedding=False) as engine:
            pieces = engine.generate(prompt, limit, temperature, stop)
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

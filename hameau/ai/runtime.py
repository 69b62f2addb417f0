"""Running models on the node's CPU with llama-cpp-python: one model loaded at a time, on the
first request that needs it, unloaded after `ai_idle_seconds` without use (a timer, not a
poll). A llama.cpp context serves one completion at a time, so requests take turns; beyond
`ai_queue` waiting, the answer is 503 with Retry-After.

llama-cpp-python is imported only when a model is loaded: a node whose AI is never asked
never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hameau.ai import catalog
from hameau.errors import HameauError
from hameau.node.datadir import Node

log = logging.getLogger("hameau.ai")
END_OF_TURN = "<end_of_turn>"
RETRY_AFTER = "5"
# An assumed figure, not a measurement: a small x86 CPU core drawing about 15 W when busy.
WATTS_PER_BUSY_CORE = 15.0


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


class Unavailable(HameauError):
    status = 503


class Busy(HameauError):
    status = 503


@dataclass
class Piece:
    text: str


@dataclass
class Result:
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    first_token_seconds: float = 0.0

    @property
    def energy_wh(self) -> float:
        """An estimate: CPU time used × an assumed power per busy core (see WATTS_PER_BUSY_CORE)."""
        return self.cpu_seconds * WATTS_PER_BUSY_CORE / 3600


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
    def __init__(self, node: Node) -> None:
        settings = node.settings
        self.node = node
        self.idle_seconds = settings.ai_idle_seconds
        self.queue_limit = settings.ai_queue
        self.threads = settings.ai_threads or os.cpu_count() or 1
        self.context = settings.ai_context
        self.max_tokens = settings.ai_max_tokens
        self.default = settings.ai_model
        self._lock: asyncio.Lock | None = None
        self._waiting = 0
        self._loaded: tuple[str, bool, Any] | None = None  # (name, for embeddings, Llama)
        self._timer: asyncio.TimerHandle | None = None
        self.failure: str | None = None  # why the last load failed, said on the pages

    # -- taking turns

    @property
    def lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def reserve(self) -> Ticket:
        if self._waiting >= self.queue_limit:
            raise Busy(
                "The AI is busy answering other requests; try again in a few seconds.",
                headers={"Retry-After": RETRY_AFTER},
            )
        self._waiting += 1
        return Ticket(self)

    @contextlib.asynccontextmanager
    async def turn(self, ticket: Ticket) -> AsyncIterator[None]:
        """Wait for the model, then hold it; the ticket's place in the queue is given back."""
        assert not ticket.used, "a ticket is used once"
        try:
            await self.lock.acquire()
        finally:
            ticket.used = True
            self._waiting -= 1
        try:
            yield
        finally:
            self.lock.release()
            self._schedule_unload()

    def release(self, ticket: Ticket) -> None:
        """A ticket given up before its turn (the request failed before answering)."""
        if not ticket.used:
            ticket.used = True
            self._waiting -= 1

    # -- loading and unloading

    @property
    def loaded_name(self) -> str | None:
        return self._loaded[0] if self._loaded else None

    def _schedule_unload(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.idle_seconds, self._unload_if_idle)

    def _unload_if_idle(self) -> None:
        self._timer = None
        if not self.lock.locked() and self._waiting == 0:
            self.unload()

    def unload(self) -> None:
        if self._loaded is None:
            return
        self._loaded = None
        gc.collect()
        _give_back_memory()
        loaded_file(self.node).unlink(missing_ok=True)

    def model(self, name: str, embedding: bool = False) -> Any:
        """The model, loaded if needed (in the worker thread that is about to use it)."""
        if self._loaded and self._loaded[:2] == (name, embedding):
            return self._loaded[2]
        self.unload()
        found = catalog.find(self.node, name)
        try:
            from llama_cpp import Llama
        except ImportError:
            raise self._failed(
                "llama-cpp-python is not installed (pip install 'hameau[ai]')"
            ) from None
        try:
            path = catalog.ready_path(self.node, found)
            llama = Llama(
                model_path=str(path), n_ctx=self.context, n_threads=self.threads,
                embedding=embedding, verbose=False,
            )  # fmt: skip
        except (ValueError, RuntimeError, OSError) as error:
            log.warning("model %s could not be loaded: %s", name, error)
            raise self._failed(
                f"the model {name} could not be loaded (its file is damaged or not a GGUF model)"
            ) from None
        self.failure = None
        self._loaded = (name, embedding, llama)
        loaded_file(self.node).write_text(json.dumps({"model": name, "pid": os.getpid()}))
        return llama

    def _failed(self, why: str) -> Unavailable:
        self.failure = why
        return Unavailable("The AI is unavailable because %(why)s.", why=why)

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
        """Pieces of text as they are made, then the Result. Runs in a worker thread; if the
        reader goes away, generation stops at the next token."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Piece | Result | BaseException] = asyncio.Queue()
        cancelled = threading.Event()
        limit = min(max_tokens or self.max_tokens, self.max_tokens)

        def work() -> None:
            try:
                for item in self._generate(model, prompt, limit, temperature, stop, cancelled):
                    loop.call_soon_threadsafe(queue.put_nowait, item)
            except BaseException as error:
                loop.call_soon_threadsafe(queue.put_nowait, error)

        async with self.turn(ticket):
            worker = loop.run_in_executor(None, work)
            try:
                while True:
                    item = await queue.get()
                    if isinstance(item, BaseException):
                        raise item
                    yield item
                    if isinstance(item, Result):
                        break
            finally:
                cancelled.set()
                await worker

    def _generate(
        self,
        model: str,
        prompt: str,
        max_tokens: int,
        temperature: float,
        stop: list[str],
        cancelled: threading.Event,
    ) -> Iterator[Piece | Result]:
        started, cpu = time.perf_counter(), time.process_time()
        llama = self.model(model)
        result = Result(prompt_tokens=len(llama.tokenize(prompt.encode(), special=True)))
        result.finish_reason = "length"
        stream = llama.create_completion(
            prompt, max_tokens=max_tokens, temperature=temperature, stop=stop or None, stream=True
        )
        for chunk in stream:
            if cancelled.is_set():
                result.finish_reason = "cancelled"
                break
            choice = chunk["choices"][0]
            text = choice.get("text") or ""
            if text:
                if not result.completion_tokens:
                    result.first_token_seconds = time.perf_counter() - started
                result.completion_tokens += 1
                result.text += text
                yield Piece(text)
            if choice.get("finish_reason"):
                result.finish_reason = choice["finish_reason"]
        result.seconds = time.perf_counter() - started
        result.cpu_seconds = time.process_time() - cpu
        yield result

    async def embed(
        self, ticket: Ticket, model: str, texts: list[str]
    ) -> tuple[list[list[float]], int]:
        def work() -> tuple[list[list[float]], int]:
            llama = self.model(model, embedding=True)
            vectors = []
            for text in texts:
                raw = llama.embed(text)
                if raw and isinstance(raw[0], list):  # one vector per token: their mean
                    raw = [sum(column) / len(raw) for column in zip(*raw, strict=True)]
                vectors.append([float(value) for value in raw])
            tokens = sum(len(llama.tokenize(text.encode())) for text in texts)
            return vectors, tokens

        async with self.turn(ticket):
            return await asyncio.get_running_loop().run_in_executor(None, work)

"""The model run inside the node's process by llama-cpp-python (imported on first load).
A llama.cpp context serves one completion at a time: one slot. Generation runs in a worker
thread; if the reader goes away, it stops at the next token."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from hameau.ai.answers import Key, Piece, Result, damaged, unavailable
from hameau.errors import Phrase
from hameau.node.datadir import Node

log = logging.getLogger("hameau.ai")


class InProcess:
    label = "llama-cpp-python"
    slots = 1

    def __init__(self, node: Node) -> None:
        settings = node.settings
        self.threads = settings.ai_threads or os.cpu_count() or 1
        self.context = settings.ai_context
        self.loaded: Key | None = None
        self._llama: Any = None

    async def load(self, key: Key, path: Path) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise unavailable(
                Phrase(
                    "no model runtime is installed: run `hameau ai install-server`, or"
                    " pip install 'hameau[ai]'"
                )
            ) from None

        def work() -> Any:
            return Llama(
                model_path=str(path), n_ctx=self.context, n_threads=self.threads,
                embedding=key[1], verbose=False,
            )  # fmt: skip

        try:
            self._llama = await asyncio.to_thread(work)
        except (ValueError, RuntimeError, OSError) as error:
            log.warning("model %s could not be loaded: %s", key[0], error)
            raise unavailable(damaged(key[0])) from None
        self.loaded = key

    async def unload(self) -> None:
        self.loaded, self._llama = None, None
        gc.collect()

    async def generate(
        self, prompt: str, max_tokens: int, temperature: float, stop: list[str]
    ) -> AsyncIterator[Piece | Result]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Piece | Result | BaseException] = asyncio.Queue()
        cancelled = threading.Event()

        def work() -> None:
            try:
                for item in self._generate(prompt, max_tokens, temperature, stop, cancelled):
                    loop.call_soon_threadsafe(queue.put_nowait, item)
            except BaseException as error:
                loop.call_soon_threadsafe(queue.put_nowait, error)

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
        prompt: str,
        max_tokens: int,
        temperature: float,
        stop: list[str],
        cancelled: threading.Event,
    ) -> Iterator[Piece | Result]:
        started, cpu = time.perf_counter(), time.process_time()
        llama = self._llama
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

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], Result]:
        llama = self._llama

        def work() -> tuple[list[list[float]], Result]:
            started, cpu = time.perf_counter(), time.process_time()
            vectors = []
            for text in texts:
                raw = llama.embed(text)
                if raw and isinstance(raw[0], list):  # one vector per token: their mean
                    raw = [sum(column) / len(raw) for column in zip(*raw, strict=True)]
                vectors.append([float(value) for value in raw])
            tokens = sum(len(llama.tokenize(text.encode())) for text in texts)
            return vectors, Result(prompt_tokens=tokens, seconds=time.perf_counter() - started,
                                   cpu_seconds=time.process_time() - cpu)  # fmt: skip

        return await asyncio.to_thread(work)

"""An OpenAI-compatible server of the household or a peer (Ollama, llama-server, another
hameau node) answers instead of a model here: `ai_backend_url`. Its HTTP calls are
`hameau.ai.backend`'s; this engine turns its answers into the node's pieces and results, so
the queue, the member's history and the pages treat it like a local model."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hameau.ai.backend import Backend
from hameau.ai.engines import Job, Key, Piece, Result
from hameau.node.datadir import Node


class OpenAIRemote:
    local = False

    def __init__(self, node: Node) -> None:
        self.backend = Backend(node)
        self.label = self.backend.url  # said on the page, and logged as where it ran
        self.slots = node.settings.ai_parallel
        self.loaded: Key | None = None

    async def load(self, key: Key, path: Path | None) -> None:
        self.loaded = key  # the server loads its models itself

    async def unload(self) -> None:
        self.loaded = None

    async def models(self) -> dict[str, Any]:
        return await self.backend.call("GET", "/models")  # type: ignore[no-any-return]

    def _body(self, job: Job) -> dict[str, Any]:
        assert self.loaded is not None
        body: dict[str, Any] = {"model": self.loaded[0], "temperature": job.temperature,
                                "max_tokens": job.max_tokens, "stream": True}  # fmt: skip
        if job.messages is not None:
            body["messages"] = job.messages
        else:
            body["prompt"] = job.prompt
        if job.stop:
            body["stop"] = job.stop
        return body

    async def generate(self, job: Job) -> AsyncIterator[Piece | Result]:
        """The server's streamed answer, piece by piece, then the Result."""
        path = "/chat/completions" if job.messages is not None else "/completions"
        result, started = Result(), time.perf_counter()
        async for chunk in self.backend.stream(path, self._body(job)):
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                text = str(delta.get("content") or choice.get("text") or "")
                if text:
                    if not result.text:
                        result.first_token_seconds = time.perf_counter() - started
                    result.text += text
                    result.completion_tokens += 1
                    yield Piece(text)
                if choice.get("finish_reason"):
                    result.finish_reason = choice["finish_reason"]
            usage = chunk.get("usage") or {}  # sent by servers that count (a hameau node does)
            result.prompt_tokens = int(usage.get("prompt_tokens", result.prompt_tokens))
            result.completion_tokens = int(usage.get("completion_tokens", result.completion_tokens))
        result.seconds = time.perf_counter() - started
        yield result

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], Result]:
        assert self.loaded is not None
        started = time.perf_counter()
        data = await self.backend.call(
            "POST", "/embeddings", {"model": self.loaded[0], "input": texts}
        )
        vectors = [[float(v) for v in item["embedding"]] for item in data["data"]]
        tokens = int((data.get("usage") or {}).get("prompt_tokens", 0))
        return vectors, Result(prompt_tokens=tokens, seconds=time.perf_counter() - started)

"""Sending AI requests to an OpenAI-compatible server of the household's network (Ollama,
llama-server, another hameau node) instead of running models here: `ai_backend_url`, and
`ai_backend_key` if it wants a bearer token. The node still authenticates the member, does
the retrieval from their documents, and logs the request — as sent outside the node, to that
address, which the AI page counts and names."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from hameau.errors import HameauError
from hameau.node.datadir import Node
from hameau.node.peer import GARBLED, AsyncPeer, PeerFailed


class BackendFailed(HameauError):
    status = 502


class Backend:
    def __init__(self, node: Node) -> None:
        self.url = node.settings.ai_backend_url.rstrip("/")
        self.key = node.settings.ai_backend_key
        self.peer = AsyncPeer(self.url, token=self.key or None, timeout=300)

    def _failed(self, why: str) -> BackendFailed:
        return BackendFailed(
            "The household's AI server at %(url)s did not answer as expected: %(why)s.",
            url=self.url,
            why=why,
        )

    def _said(self, error: PeerFailed) -> BackendFailed:
        if error.kind == GARBLED:
            return self._failed("an answer that is not JSON")
        why = error.why.rstrip(".")  # the sentence ends with its own full stop
        return self._failed(f"{error.code} {why}" if error.code else why)

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            return await self.peer.call(method, path, json=body)
        except PeerFailed as error:
            raise self._said(error) from None

    async def stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The server-sent events of a streamed completion, as parsed chunks."""
        try:
            async with self.peer.stream("POST", path, json=body) as response:
                async for line in response.aiter_lines():
                    data = line.removeprefix("data: ").strip()
                    if not line.startswith("data: ") or data == "[DONE]":
                        continue
                    yield json.loads(data)
        except PeerFailed as error:
            raise self._said(error) from None
        except ValueError:
            raise self._failed("an answer that is not JSON") from None

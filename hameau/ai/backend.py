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


class BackendFailed(HameauError):
    status = 502


class Backend:
    def __init__(self, node: Node) -> None:
        self.url = node.settings.ai_backend_url.rstrip("/")
        self.key = node.settings.ai_backend_key
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import httpx

            headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
            self._client = httpx.AsyncClient(
                base_url=self.url, headers=headers, timeout=httpx.Timeout(300, connect=5)
            )
        return self._client

    def _failed(self, why: str) -> BackendFailed:
        return BackendFailed(
            "The household's AI server at %(url)s did not answer as expected: %(why)s.",
            url=self.url,
            why=why,
        )

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import httpx

        try:
            response = await self.client.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise self._failed(type(error).__name__) from None
        if response.status_code >= 400:
            raise self._failed(f"{response.status_code} {response.text[:200]}")
        return response.json()

    async def stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The server-sent events of a streamed completion, as parsed chunks."""
        import httpx

        try:
            async with self.client.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._failed(f"{response.status_code} {response.text[:200]}")
                async for line in response.aiter_lines():
                    data = line.removeprefix("data: ").strip()
                    if not line.startswith("data: ") or data == "[DONE]":
                        continue
                    yield json.loads(data)
        except httpx.HTTPError as error:
            raise self._failed(type(error).__name__) from None

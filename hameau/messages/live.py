"""Live updates: each open conversation page holds a server-sent-events stream that wakes
only when someone posts (an asyncio queue per listener; nothing polls)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any


class Bus:
    def __init__(self) -> None:
        self._listeners: defaultdict[int, set[asyncio.Queue[int]]] = defaultdict(set)

    def listen(self, thread_id: int) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=100)
        self._listeners[thread_id].add(queue)
        return queue

    def leave(self, thread_id: int, queue: asyncio.Queue[int]) -> None:
        self._listeners[thread_id].discard(queue)
        if not self._listeners[thread_id]:
            del self._listeners[thread_id]

    def publish(self, thread_id: int, message_id: int) -> None:
        for queue in list(self._listeners.get(thread_id, ())):
            if not queue.full():
                queue.put_nowait(message_id)


def attach(app: Any, node: object) -> None:
    """The messages' part of the served app (hameau/parts.py): one bus for the live pages."""
    app.state.bus = Bus()

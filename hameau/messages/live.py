"""Live updates: each open conversation page holds a server-sent-events stream that wakes
only when someone posts (an asyncio queue per listener; nothing polls).

On SQLite one process serves the node and the bus is in its memory. On PostgreSQL several
processes may serve it (docs/scale.md): a post is told to all of them with `NOTIFY`, and each
`LISTEN`s on one connection of its own, opened with its first live page, to wake its pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

logger = logging.getLogger(__name__)
CHANNEL = "hameau_messages"
RETRY_SECONDS = 5.0  # between two tries to listen again, while pages are open and the server down


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

    def wake_all(self) -> None:
        """Every page reads its conversation again (it may have missed a post)."""
        for thread_id in list(self._listeners):
            self.publish(thread_id, 0)


class SharedBus(Bus):
    """The bus of a node on PostgreSQL, shared by its processes through `LISTEN/NOTIFY`."""

    def __init__(self, conninfo: str, sessions: Any) -> None:
        super().__init__()
        self.conninfo = conninfo  # psycopg's, for the listening connection
        self.sessions = sessions
        self._task: asyncio.Task[None] | None = None

    def listen(self, thread_id: int) -> asyncio.Queue[int]:
        queue = super().listen(thread_id)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._receive())
        return queue

    def publish(self, thread_id: int, message_id: int) -> None:
        """Told to every process, this one too (its pages wake when the notice comes back)."""
        from sqlalchemy import text

        with self.sessions() as session, session.begin():
            session.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": CHANNEL, "payload": f"{thread_id}:{message_id}"},
            )

    async def _receive(self) -> None:
        """Listen while pages are open; the connection waits on its socket between posts."""
        import psycopg

        while self._listeners:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self.wake_all()  # a post made before LISTEN held is read now
                    async for notice in connection.notifies():
                        thread, _, message = notice.payload.partition(":")
                        Bus.publish(self, int(thread), int(message))
                        if not self._listeners:
                            return
            except (psycopg.Error, OSError) as error:
                logger.warning("Live messages: listening failed (%s); trying again.", error)
                self.wake_all()
                await asyncio.sleep(RETRY_SECONDS)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def attach(app: Any, node: Any) -> None:
    """The messages' part of the served app (hameau/parts.py): one bus for the live pages."""
    if node.engine.dialect.name == "sqlite":
        app.state.bus = Bus()
        return
    url = node.engine.url.set(drivername="postgresql")
    bus = SharedBus(url.render_as_string(hide_password=False), node.sessions)
    app.state.bus = bus
    app.state.stops.append(bus.close)

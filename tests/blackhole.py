"""A peer that is there and never answers: a listener that accepts every connection, says
nothing, and counts them (so a test asserts on calls made, never on time spent)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Blackhole:
    def __init__(self, port: int = 0) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))  # a dead peer's own port, or any free one
        self.listener.listen(16)
        self.accepted: list[socket.socket] = []
        self.arrived = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with self.arrived:
                self.accepted.append(connection)
                self.arrived.notify_all()

    def attempts(self, at_least: int = 0) -> int:
        """Connections accepted so far (waiting up to 30 s for `at_least` of them)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.accepted) >= at_least, timeout=30)
            return len(self.accepted)

    def close(self) -> None:
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@contextmanager
def blackhole(port: int = 0) -> Iterator[Blackhole]:
    found = Blackhole(port)
    try:
        yield found
    finally:
        found.close()

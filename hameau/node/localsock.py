"""A command talking to the node it serves, over a Unix socket in the data dir: the served
side listens (`LocalServer`), the command connects; each side checks the other's user id from
the kernel (SO_PEERCRED) before a word is read. Standard library only: the command line's side
runs before anything heavy loads. Used by `hameau travel sync` (travel/control.py) and
`hameau compute submit` (compute/wake.py)."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

MAX_ADDRESS = 100  # bytes: sun_path holds 108 on Linux, fewer elsewhere


def available() -> bool:
    """The kernel says who is at the other end (Linux): the channel can be checked."""
    return hasattr(socket, "SO_PEERCRED")


def peer_uid(connection: socket.socket) -> int:
    """The user id of the process at the other end, as the kernel saw it connect."""
    option = socket.SO_PEERCRED  # type: ignore[attr-defined]  # Linux: see available()
    creds = connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


@contextmanager
def address(path: Path) -> Iterator[str]:
    """``path`` as a socket address: a long one (a deep data dir) through its folder's open
    descriptor, /proc/self/fd/N/name, which the kernel resolves alike."""
    if len(os.fsencode(path)) <= MAX_ADDRESS:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def alive(path: Path) -> bool:
    """Something listens on this socket already."""
    if not path.exists():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with address(path) as where:
            probe.connect(where)
    except OSError:
        return False
    finally:
        probe.close()
    return True


class LocalServer:
    """The socket a served node listens on; a subclass answers each connection (`_answer`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._opening: asyncio.Task[asyncio.Server] | None = None

    def start(self) -> None:
        """Listen (called in the server's running loop, with the other parts' starts)."""
        import asyncio

        listening = self._listen() if available() else None
        if listening is not None:
            self._opening = asyncio.get_running_loop().create_task(
                asyncio.start_unix_server(self._answer, sock=listening)
            )

    def _listen(self) -> socket.socket | None:
        if alive(self.path):  # another process serves this data dir: leave it its socket
            return None
        self.path.unlink(missing_ok=True)
        listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with address(self.path) as where:
            listening.bind(where)
        os.chmod(self.path, 0o600)
        listening.listen(8)
        listening.setblocking(False)
        return listening

    async def stop(self) -> None:
        if self._opening is None:
            return
        server = await self._opening
        server.close()
        self.path.unlink(missing_ok=True)
        await server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

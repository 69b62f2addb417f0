"""`hameau compute submit` wakes the served node's compute driver, so a job submitted from the
command line starts at once instead of at the driver's next look (`compute_check_seconds`, a
minute by default). The served node listens on a Unix socket in its data dir, `compute.sock`;
the command connects after the job is recorded, says `nudge`, and the driver looks now.

The channel is built as travel/control.py's (not imported: travel builds on parts that build on
compute): the data dir is the user's alone (0700), the socket 0600, and each side checks the
other's user id from the kernel (SO_PEERCRED) before a word is read.
Nothing but the word crosses it. A listening socket costs an idle node no wake-up at all; with
no node served (no socket, or nobody behind it), the job waits for the next look as before."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

SOCKET = "compute.sock"
NUDGE = b"nudge\n"
DONE = b"ok\n"
MAX_ADDRESS = 100  # bytes: sun_path holds 108 on Linux, fewer elsewhere


def available() -> bool:
    """The kernel says who is at the other end (Linux): the channel can be checked."""
    return hasattr(socket, "SO_PEERCRED")


def peer_uid(connection: socket.socket) -> int:
    """The user id of the process at the other end, as the kernel saw it connect."""
    option = socket.SO_PEERCRED  # type: ignore[attr-defined]  # Linux: see available()
    creds = connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


@contextmanager
def address(path: Path) -> Iterator[str]:
    """`path` as a socket address; a long one through its folder's open descriptor."""
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


def nudge(root: Path) -> bool:
    """Have the node served from `root` look at its jobs now; False if none listens."""
    path = root / SOCKET
    if not available() or not path.exists():
        return False
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(5)
    try:
        with address(path) as where:
            connection.connect(where)
        if peer_uid(connection) != os.geteuid():
            return False
        connection.sendall(NUDGE)
        return connection.recv(len(DONE)) == DONE
    except OSError:  # left by a node no longer served, or it went away meanwhile
        return False
    finally:
        connection.close()


class Listener:
    """The socket a served node listens on for `hameau compute submit`."""

    def __init__(self, root: Path, wake: Callable[[], None]) -> None:
        self.path = root / SOCKET
        self.wake = wake
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
        if alive(self.path):  # another process serves this node: its socket
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
        import asyncio

        try:
            ours = peer_uid(writer.get_extra_info("socket")) == os.geteuid()
            if ours and await asyncio.wait_for(reader.readline(), 5) == NUDGE:
                self.wake()
                writer.write(DONE)
                await writer.drain()
        except (ConnectionError, OSError, TimeoutError):
            pass  # the command went away: the driver looks at its next time anyway
        finally:
            writer.close()

"""`hameau compute submit` wakes the served node's compute driver, so a job submitted from the
command line starts at once instead of at the driver's next look (`compute_check_seconds`, a
minute by default). The served node listens on a Unix socket in its data dir, `compute.sock`;
the command connects after the job is recorded, says `nudge`, and the driver looks now.

The channel is node/localsock.py's, as `hameau travel sync`'s: the data dir is the user's alone (0700), the socket 0600, and each side checks the
other's user id from the kernel (SO_PEERCRED) before a word is read.
Nothing but the word crosses it. A listening socket costs an idle node no wake-up at all; with
no node served (no socket, or nobody behind it), the job waits for the next look as before."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hameau.node.localsock import LocalServer, address, available, peer_uid

if TYPE_CHECKING:
    import asyncio

SOCKET = "compute.sock"
NUDGE = b"nudge\n"
DONE = b"ok\n"


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


class Listener(LocalServer):
    """The socket a served node listens on for `hameau compute submit`."""

    def __init__(self, root: Path, wake: Callable[[], None]) -> None:
        super().__init__(root / SOCKET)
        self.wake = wake

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

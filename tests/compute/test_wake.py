"""`hameau compute submit` wakes the served node (hameau/compute/wake.py): the node listening on
compute.sock looks at its jobs when the command says so; with no node served the command says
so and nothing waits."""

from __future__ import annotations

import asyncio
import stat
import threading
from pathlib import Path

import pytest

from hameau.compute.wake import SOCKET, Listener, available, nudge
from tests.helpers import in_thread

pytestmark = pytest.mark.skipif(not available(), reason="not run: this system has no SO_PEERCRED")


def test_the_command_wakes_the_listening_node_and_nothing_else(tmp_path: Path) -> None:
    woken = threading.Event()
    assert nudge(tmp_path) is False  # no node served here

    async def served() -> bool:
        listener = Listener(tmp_path, woken.set)
        listener.start()
        await asyncio.sleep(0.1)  # the socket opens in the loop
        assert stat.S_IMODE((tmp_path / SOCKET).stat().st_mode) == 0o600
        answered = await asyncio.to_thread(nudge, tmp_path)
        await listener.stop()
        return answered

    assert in_thread(asyncio.run, served()) is True
    assert woken.is_set()
    assert not (tmp_path / SOCKET).exists()  # gone with the node
    (tmp_path / SOCKET).touch()  # left by a node that died: nobody behind it
    assert nudge(tmp_path) is False

"""The direct writes' thread (`node/direct.py:DirectQueue`): it takes every write queued at
the moment as one batch, and a caller whose outcome cannot be handed over (its event loop
closed) or a batch that fails never stops it: every other write still gets its outcome."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from hameau.node.direct import DirectQueue


@dataclass
class Done:
    direct: Any
    result: Any = True
    error: BaseException | None = None


def test_a_failed_batch_and_a_failed_hand_over_stop_nothing() -> None:
    holding, release = threading.Event(), threading.Event()
    batches: list[list[Any]] = []

    def run(_blobs: Any, writes: list[Any]) -> list[Done]:
        batches.append(writes)
        if "hold" in writes:  # the next writes queue up meanwhile: one batch
            holding.set()
            release.wait(10)
        if "boom" in writes:
            raise OSError("the log could not be synced")
        return [Done(write) for write in writes]

    queue = DirectQueue(run)
    outcomes: dict[str, tuple[bool, BaseException | None]] = {}
    told = {name: threading.Event() for name in ("hold", "last", "after")}

    def send(name: str) -> None:
        def finish(_write: Any, recorded: bool, error: BaseException | None) -> None:
            outcomes[name] = (recorded, error)
            if name in told:
                told[name].set()
            if name == "loop closed":
                raise RuntimeError("Event loop is closed")

        queue.put(None, lambda: name, finish)  # type: ignore[arg-type]

    send("hold")
    assert holding.wait(10)
    for name in ("boom", "loop closed", "last"):
        send(name)
    release.set()
    assert told["last"].wait(10)
    assert batches[1] == ["boom", "loop closed", "last"]
    assert outcomes["last"][0] is False and isinstance(outcomes["last"][1], OSError)
    send("after")
    assert told["after"].wait(10)
    assert outcomes["after"] == (True, None)
    queue.stop()

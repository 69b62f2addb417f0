"""`python -m hameau ARGS` with the wall time of each step of a move's sender on stderr, one
line each: `PHASE name start seconds` (bench/moving.py runs the move through it with
PHASES=1, and sums them per name)."""

from __future__ import annotations

import functools
import runpy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

START = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's hameau


def _stamped(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(step)
    def timed(*args: Any, **options: Any) -> Any:
        began = time.perf_counter()
        try:
            return step(*args, **options)
        finally:
            ended = time.perf_counter()
            print(f"PHASE {name} {began - START:.3f} {ended - began:.3f}", file=sys.stderr)

    return timed


def main() -> None:
    from hameau.moving import service, steps, transfer

    watched = {
        transfer: ["_export", "_lacking", "_stream", "send", "last_changes", "finish"],
        service: ["start"],
        steps: ["offer", "_switching"],
    }
    for module, names in watched.items():
        for name in names:
            setattr(module, name, _stamped(name, getattr(module, name)))
    print(f"PHASE imports 0 {time.perf_counter() - START:.3f}", file=sys.stderr)
    sys.argv = ["hameau", *sys.argv[1:]]
    try:
        runpy.run_module("hameau", run_name="__main__")
    finally:
        print(f"PHASE command 0 {time.perf_counter() - START:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()

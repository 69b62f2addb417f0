"""The sandbox a lent job runs in: Wasmtime with WASI preview 1, fuel as the meter and the
bill, a linear-memory cap, an epoch deadline, /in read-only and /out as the only place it
writes, no network, no environment, and no host clock or randomness (a fixed time and bytes
from a PRNG seeded by the job), so two providers running the same job give the same output.

`wasmtime` is imported inside `run()` only: loading it costs memory a resting node keeps.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# What a job reads from the clock: 2000-01-01T00:00:00Z, whatever the host's time.
FIXED_TIME_NS = 946_684_800 * 10**9
# How often the watch wakes while a job runs (only then) to check its deadline and output.
TICK = 0.1
OUTPUT_EVERY = 0.5
# Each file or folder of the output counts this much on top of its bytes (a many-files bomb).
ENTRY_BYTES = 4096
# A job ending badly this close to its memory cap is taken for a memory bomb.
NEAR_CAP = 1 << 20
WASI = "wasi_snapshot_preview1"
ERRNO_FAULT, ERRNO_NOTSUP, ERRNO_PERM = 21, 58, 63
STATUSES = (
    "ok", "exit", "trap", "fuel", "memory", "deadline", "malformed", "output_too_big", "killed",
)  # fmt: skip


@dataclass(frozen=True)
class Limits:
    fuel: int  # Wasmtime fuel; the meter and the bill
    memory_bytes: int = 64 << 20  # linear memory cap (a memory bomb ends with status "memory")
    wall_seconds: float = 60.0  # epoch deadline (status "deadline"); time stopped does not count
    output_bytes: int = 64 << 20  # total size of the output folder (status "output_too_big")


@dataclass(frozen=True)
class Outcome:
    status: str  # one of STATUSES
    reason: str  # one English sentence a person understands
    exit_code: int | None
    fuel_used: int
    output_hash: str  # tree_hash(outputs) ("" unless status is "ok")
    # The sandbox process's CPU time (Child only): the footprint's figure, not part of the result.
    cpu_seconds: float = field(default=0.0, compare=False)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        return cls(**json.loads(text))


def module_hash(module: bytes) -> str:
    return hashlib.sha256(module).hexdigest()


def _entries(folder: Path) -> Iterator[tuple[str, os.stat_result, Path]]:
    """Every file and folder under `folder`, sorted, links not followed."""
    for path in sorted(folder.rglob("*")):
        yield path.relative_to(folder).as_posix(), path.lstat(), path


def tree_hash(folder: Path) -> str:
    """sha256 over the sorted lines "relative path, size, sha256" of the regular files (a
    folder's line has its path only; links and special files are left out)."""
    total = hashlib.sha256()
    for name, stat, path in _entries(folder):
        if path.is_symlink():
            continue
        if path.is_dir():
            total.update(f"{name}/\n".encode())
        elif path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as content:
                for block in iter(lambda: content.read(1 << 20), b""):
                    digest.update(block)
            total.update(f"{name}\t{stat.st_size}\t{digest.hexdigest()}\n".encode())
    return total.hexdigest()


def output_size(folder: Path) -> int:
    """The output's size as the cap counts it: its bytes plus ENTRY_BYTES per entry."""
    try:
        return sum(stat.st_size + ENTRY_BYTES for _, stat, _ in _entries(folder))
    except OSError:  # an entry removed while we walk: the next look counts it
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _Watch:
    """Ends a running job at its deadline or when its output passes the cap, by moving the
    engine's epoch past the store's deadline. Time the process spent stopped (SIGSTOP) is
    not counted: a step longer than two ticks counts as two."""

    def __init__(self, engine: Any, outputs: Path, limits: Limits, stderr: Path):
        self.engine, self.outputs, self.limits, self.stderr = engine, outputs, limits, stderr
        self.reason = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sandbox-watch", daemon=True)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        ran, since_look, last = 0.0, 0.0, time.monotonic()
        while not self._stop.wait(TICK):
            now = time.monotonic()
            step = min(now - last, 2 * TICK)
            ran, since_look, last = ran + step, since_look + step, now
            if ran >= self.limits.wall_seconds:
                self.reason = "deadline"
            elif since_look >= OUTPUT_EVERY:
                since_look = 0.0
                written = output_size(self.outputs) + _size(self.stderr)
                if written > self.limits.output_bytes:
                    self.reason = "output_too_big"
            if self.reason:
                self.engine.increment_epoch()
                return


def _guest_memory_writer(caller: Any, data: bytes, pointer: int) -> int:
    memory = caller.get("memory")
    if memory is None:
        return ERRNO_FAULT
    try:
        memory.write(caller, data, pointer)
    except IndexError:
        return ERRNO_FAULT
    return 0


def _shadow_wasi(linker: Any, seed: int) -> None:
    """Replace the WASI calls that would let a job see the host (clock, randomness), sleep
    past its deadline (poll_oneoff) or reach host files through links."""
    from wasmtime import FuncType, ValType

    i32, i64 = ValType.i32(), ValType.i64()
    rng = random.Random(seed)

    def define(name: str, params: list[Any], func: Callable[..., int], caller: bool) -> None:
        linker.define_func(WASI, name, FuncType(params, [i32]), func, access_caller=caller)

    def clock_res_get(caller: Any, clock: int, out: int) -> int:
        return _guest_memory_writer(caller, (1000).to_bytes(8, "little"), out)

    def clock_time_get(caller: Any, clock: int, precision: int, out: int) -> int:
        return _guest_memory_writer(caller, FIXED_TIME_NS.to_bytes(8, "little"), out)

    def random_get(caller: Any, buffer: int, length: int) -> int:
        return _guest_memory_writer(caller, rng.randbytes(length), buffer)

    define("clock_res_get", [i32, i32], clock_res_get, True)
    define("clock_time_get", [i32, i64, i32], clock_time_get, True)
    define("random_get", [i32, i32], random_get, True)
    define("poll_oneoff", [i32] * 4, lambda *_: ERRNO_NOTSUP, False)
    define("path_link", [i32] * 7, lambda *_: ERRNO_PERM, False)
    define("path_symlink", [i32] * 5, lambda *_: ERRNO_PERM, False)


def _ended(status: str, reason: str, fuel_used: int = 0, code: int | None = None) -> Outcome:
    return Outcome(status, reason, code, fuel_used, "")


def _stderr_tail(path: Path, keep: int = 400) -> str:
    """The last line a job wrote to stderr, for the reason of a failed run."""
    if not path.exists():
        return ""
    with path.open("rb") as stream:
        stream.seek(max(0, _size(path) - keep))
        lines = stream.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:200] if lines else ""


def _wasi_config(args: list[str], inputs: Path, outputs: Path, stderr: Path) -> Any:
    from wasmtime import WasiConfig

    wasi = WasiConfig()
    wasi.argv = ["job", *args]
    wasi.env = []
    wasi.preopen_dir(str(inputs), "/in", False)
    wasi.preopen_dir(str(outputs), "/out", True)
    wasi.stderr_file = str(stderr)  # stdout is discarded: the result is what /out holds
    return wasi


def run(
    module: bytes,
    args: list[str],
    inputs: Path,
    outputs: Path,
    limits: Limits,
    seed: int = 0,
) -> Outcome:
    """Run `module`'s `_start` in this process and say how it ended."""
    outputs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hameau-job-") as scratch:
        stderr = Path(scratch) / "stderr"
        started = _start(module, args, inputs, outputs, limits, seed, stderr)
        if isinstance(started, Outcome):
            return started
        store, instance, start = started
        with _Watch(store.engine, outputs, limits, stderr) as watch:
            error = _call(start, store)
        fuel_used = limits.fuel - store.get_fuel()
        at_cap = _memory_at_cap(store, instance, limits)
        said = _stderr_tail(stderr)
    outcome = _judge(error, watch.reason, at_cap, limits, said, fuel_used)
    return _checked_output(outcome, outputs, limits)


def _start(
    module: bytes,
    args: list[str],
    inputs: Path,
    outputs: Path,
    limits: Limits,
    seed: int,
    stderr: Path,
    metered: bool = True,
) -> tuple[Any, Any, Any] | Outcome:
    """The store, instance and `_start` of a job ready to run, or why it cannot start
    (`metered` False only for bench/compute.py, to measure what metering costs)."""
    import wasmtime

    if not module.startswith(b"\0asm"):
        return _ended("malformed", "The job is not a WebAssembly module.")
    config = wasmtime.Config()
    config.consume_fuel = metered
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    try:
        compiled = wasmtime.Module(engine, module)
    except wasmtime.WasmtimeError as error:
        return _ended("malformed", f"The module is not valid WebAssembly: {_first_line(error)}.")
    store = wasmtime.Store(engine)
    store.engine = engine  # the watch moves this engine's epoch
    store.set_limits(memory_size=limits.memory_bytes)
    if metered:
        store.set_fuel(limits.fuel)
    store.set_epoch_deadline(1)
    store.set_wasi(_wasi_config(args, inputs, outputs, stderr))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    linker.allow_shadowing = True
    _shadow_wasi(linker, seed)
    try:
        instance = linker.instantiate(store, compiled)
    except (wasmtime.WasmtimeError, wasmtime.Trap) as error:
        return _not_started(error, limits)
    start = instance.exports(store).get("_start")
    if not isinstance(start, wasmtime.Func):
        return _ended("malformed", "The module has no _start function to run.")
    return store, instance, start


def _memory_at_cap(store: Any, instance: Any, limits: Limits) -> bool:
    """Whether the job's memory is so close to the cap that its last grow may have failed
    (Wasmtime's C API answers a refused memory.grow with -1, never tells the host)."""
    from wasmtime import Memory

    memory = instance.exports(store).get("memory")
    margin = max(NEAR_CAP, limits.memory_bytes // 16)
    return isinstance(memory, Memory) and memory.data_len(store) + margin > limits.memory_bytes


def _cause(error: BaseException | None) -> str:
    """The trap's cause (the last line of Wasmtime's message, after the backtrace)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[-1] if lines else "no detail").removeprefix("wasm trap: ").rstrip(".")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or ["no detail"])[0].rstrip(".")


def _not_started(error: BaseException, limits: Limits) -> Outcome:
    text = str(error)
    if "memory" in text and ("limit" in text or "exceeds" in text):
        mib = limits.memory_bytes >> 20
        return _ended("memory", f"The module asks for more than the {mib} MiB of memory allowed.")
    return _ended("malformed", f"The module cannot start in the sandbox: {_first_line(error)}.")


def _call(start: Any, store: Any) -> BaseException | None:
    import wasmtime

    try:
        start(store)
    except (wasmtime.Trap, wasmtime.WasmtimeError) as error:
        error.__traceback__ = None  # the frame holds the store: no cycle keeping it alive
        return error
    return None


def _judge(
    error: BaseException | None,
    watched: str,
    at_cap: bool,
    limits: Limits,
    stderr: str,
    fuel_used: int,
) -> Outcome:
    """How the run ended, from the error `_start` raised (None: it returned)."""
    from wasmtime import ExitTrap, Trap, TrapCode

    code = error.code if isinstance(error, ExitTrap) else 0 if error is None else None
    if code == 0:
        return Outcome("ok", "The job ended normally.", 0, fuel_used, "")
    trap = error.trap_code if isinstance(error, Trap) else None
    if trap == TrapCode.INTERRUPT and watched == "deadline":
        return _ended("deadline", f"The job ran past its {limits.wall_seconds:g} s.", fuel_used)
    if trap == TrapCode.INTERRUPT and watched == "output_too_big":
        return _too_big(limits, fuel_used)
    if at_cap:
        mib = limits.memory_bytes >> 20
        return _ended("memory", f"The job used up its {mib} MiB of memory.", fuel_used, code)
    if trap == TrapCode.OUT_OF_FUEL:
        return _ended("fuel", f"The job used up its {limits.fuel} units of fuel.", fuel_used)
    if code is not None:
        said = f" ({stderr})" if stderr else ""
        return _ended("exit", f"The job stopped with exit code {code}{said}.", fuel_used, code)
    return _ended("trap", f"The job crashed: {_cause(error)}.", fuel_used)


def _too_big(limits: Limits, fuel_used: int) -> Outcome:
    mib = limits.output_bytes / (1 << 20)
    return _ended(
        "output_too_big", f"The job wrote more than its {mib:g} MiB of output.", fuel_used
    )


def _checked_output(outcome: Outcome, outputs: Path, limits: Limits) -> Outcome:
    if outcome.status in ("deadline", "output_too_big"):
        return outcome
    if output_size(outputs) > limits.output_bytes:
        return _too_big(limits, outcome.fuel_used)
    if outcome.status != "ok":
        return outcome
    return Outcome("ok", outcome.reason, 0, outcome.fuel_used, tree_hash(outputs))


# Wasmtime reserves 4 GiB of address space per linear memory (its bounds checks are guard
# pages); the rest of a child (Python, the compiler, threads) gets this much beside it.
RESERVATION = 4 << 30
RUNTIME_SPACE = 1 << 30


def address_space(limits: Limits) -> int:
    """The RLIMIT_AS of a child: the linear memory itself is capped by the store."""
    return RESERVATION + RUNTIME_SPACE + limits.memory_bytes


class Child:
    """The same run in a subprocess at nice 19 with its address space capped; it can be
    suspended (SIGSTOP), resumed (SIGCONT) and killed."""

    def __init__(
        self,
        module: bytes,
        args: list[str],
        inputs: Path,
        outputs: Path,
        limits: Limits,
        seed: int = 0,
    ) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="hameau-child-"))
        (self._folder / "module.wasm").write_bytes(module)
        job = {
            "args": args,
            "inputs": str(Path(inputs).resolve()),
            "outputs": str(Path(outputs).resolve()),
            "limits": asdict(limits),
            "seed": seed,
        }
        (self._folder / "job.json").write_text(json.dumps(job))
        self._killed = False
        self._outcome: Outcome | None = None
        parent = str(os.getpid())  # the child dies with this process (sandbox_child.py)
        command = [sys.executable, "-m", "hameau.compute.sandbox_child", str(self._folder), parent]
        with (self._folder / "stderr").open("wb") as stderr:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # a terminal's ^C or ^Z is the owner's, not the job's
            )
        self.pid = self._process.pid

    def _signal(self, number: int) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, number)

    def suspend(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        if self._process.poll() is None:
            self._killed = True
            self._signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> Outcome | None:
        """The outcome once the child has ended; None if it still runs after `timeout`."""
        if self._outcome is None:
            try:
                code = self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
            self._outcome = self._collect(code)
            shutil.rmtree(self._folder, ignore_errors=True)
        return self._outcome

    def _collect(self, code: int) -> Outcome:
        written = self._folder / "outcome.json"
        if self._killed:
            return _ended("killed", "The job was stopped before it ended.")
        if written.exists():
            return Outcome.from_json(written.read_text())
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        last = _stderr_tail(self._folder / "stderr")
        said = f": {last}" if last else ""
        return _ended("killed", f"The sandbox process ended unexpectedly ({how}){said}.")

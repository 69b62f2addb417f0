"""Lent compute's sandbox: the same C workloads native and in Wasmtime, with and without fuel
metering, and what starting a job costs.

Each workload is run natively (`cc -O2`, a child process, its CPU time from getrusage) and in
the sandbox (Wasmtime, WASI preview 1, CPU time of this process while `_start` runs, compile
excluded), best of --repeat; outputs are checked identical. Then the start cost: compiling a
module, a whole `run()` of a trivial job, and a `Child` (a new process) for the same job.

Prints one JSON line per measure.   .venv/bin/python bench/compute.py [--short] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import ROOT  # noqa: F401  (puts the repository first on the path)

from hameau.compute import sandbox, workloads
from hameau.compute.sandbox import Child, Limits, run, tree_hash

LIMITS = Limits(fuel=10**13, memory_bytes=256 << 20, wall_seconds=600, output_bytes=1 << 30)
WORDS = b"the of hamlet node lends idle compute to a neighbour when its owner sleeps".split()


def _text(size: int) -> bytes:
    rng = random.Random(7)
    words, length = [], 0
    while length < size:
        words.append(rng.choice(WORDS) if rng.random() < 0.9 else b"%d" % rng.randrange(10**6))
        length += len(words[-1]) + 1
    return b" ".join(words)[:size]


def _image(width: int, height: int, seed: int) -> bytes:
    rng = random.Random(seed)
    row = bytes(rng.randrange(256) for _ in range(width * 3))
    return b"P6\n%d %d\n255\n" % (width, height) + row * height


def cases(short: bool) -> dict[str, tuple[dict[str, bytes], list[str]]]:
    scale = 10 if short else 1
    images = {f"photo{n}.ppm": _image(1600 // scale, 1200 // scale, n) for n in range(8)}
    return {
        "pi": ({}, ["42", str(40_000_000 // scale)]),
        "compress": ({"text.txt": _text((16 << 20) // scale)}, ["text.txt"]),
        "thumbs": (images, ["160"]),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def native_cpu(program: Path, args: list[str], inputs: Path, outputs: Path) -> float:
    before = _children_cpu()
    if workloads.run_native(program, args, inputs, outputs) != 0:
        raise SystemExit(f"{program.name} failed natively")
    return _children_cpu() - before


def sandbox_cpu(module: bytes, args: list[str], inputs: Path, outputs: Path, metered: bool):
    """CPU seconds of `_start` alone, and the fuel it used (0 when not metered)."""
    outputs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        started = sandbox._start(
            module, args, inputs, outputs, LIMITS, 0, Path(scratch) / "err", metered
        )
        assert not isinstance(started, sandbox.Outcome), started
        store, _, start = started
        before = time.process_time()
        error = sandbox._call(start, store)
        seconds = time.process_time() - before
    assert error is None or getattr(error, "code", 1) == 0, error
    return seconds, LIMITS.fuel - store.get_fuel() if metered else 0


def best(repeat: int, measure: Callable[[Path], float], root: Path) -> float:
    return min(measure(root / f"out-{n}") for n in range(repeat))


def workload(name: str, files: dict[str, bytes], args: list[str], root: Path, repeat: int):
    inputs = root / name / "in"
    inputs.mkdir(parents=True)
    for file, content in files.items():
        (inputs / file).write_bytes(content)
    program, module = workloads.build(name, "native"), workloads.build(name).read_bytes()
    fuel = 0

    def metered(out: Path) -> float:
        nonlocal fuel
        seconds, fuel = sandbox_cpu(module, args, inputs, out, True)
        return seconds

    native = best(repeat, lambda out: native_cpu(program, args, inputs, out), root / name / "n")
    with_fuel = best(repeat, metered, root / name / "f")
    without = best(repeat, lambda out: sandbox_cpu(module, args, inputs, out, False)[0],
                   root / name / "w")  # fmt: skip
    same = tree_hash(root / name / "n" / "out-0") == tree_hash(root / name / "f" / "out-0")
    return {
        "bench": "compute", "workload": name, "args": args,
        "input_bytes": sum(map(len, files.values())),
        "native_cpu_s": round(native, 3), "wasm_fuel_cpu_s": round(with_fuel, 3),
        "wasm_nofuel_cpu_s": round(without, 3),
        "ratio_wasm_fuel_to_native": round(with_fuel / native, 2),
        "metering_cost": round(with_fuel / without, 2),
        "fuel": fuel, "mfuel_per_cpu_s": round(fuel / with_fuel / 1e6),
        "same_output": same,
    }  # fmt: skip


def start_cost(root: Path, repeat: int) -> dict[str, object]:
    import wasmtime

    module = workloads.build("pi").read_bytes()
    config = wasmtime.Config()
    config.consume_fuel = config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    compile_s = []
    for _ in range(repeat):
        before = time.perf_counter()
        wasmtime.Module(engine, module)
        compile_s.append(time.perf_counter() - before)
    inputs = root / "start" / "in"
    inputs.mkdir(parents=True)
    whole, child = [], []
    for n in range(repeat):
        before = time.perf_counter()
        assert run(module, ["1", "1"], inputs, root / "start" / f"r{n}", LIMITS).status == "ok"
        whole.append(time.perf_counter() - before)
        before = time.perf_counter()
        outcome = Child(module, ["1", "1"], inputs, root / "start" / f"c{n}", LIMITS).wait()
        assert outcome is not None and outcome.status == "ok", outcome
        child.append(time.perf_counter() - before)
    return {
        "bench": "compute-start", "module_bytes": len(module),
        "compile_ms": round(min(compile_s) * 1000, 1),
        "run_trivial_ms": round(min(whole) * 1000, 1),
        "child_trivial_ms": round(min(child) * 1000, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    print(json.dumps({"bench": "compute-load", "loadavg": os.getloadavg()}))
    with tempfile.TemporaryDirectory() as folder:
        for name, (files, args) in cases(options.short).items():
            print(json.dumps(workload(name, files, args, Path(folder), options.repeat)), flush=True)
        print(json.dumps(start_cost(Path(folder), options.repeat)))


if __name__ == "__main__":
    main()

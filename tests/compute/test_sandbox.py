"""The sandbox a lent job runs in (docs/compute.md, "The sandbox"): hostile modules written as
WebAssembly text end with their reason, and the host is left as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hameau.compute.sandbox import Limits, Outcome, module_hash, run, tree_hash

wasmtime = pytest.importorskip("wasmtime", reason="not run: the wasmtime package is missing")


def wat(text: str) -> bytes:
    return wasmtime.wat2wasm(text)


def start(body: str, memory: str = '(memory (export "memory") 1)', extra: str = "") -> bytes:
    return wat(f'(module {extra} {memory} (func (export "_start") {body}))')


def sandboxed(tmp_path: Path, module: bytes, limits: Limits, *args: str) -> Outcome:
    inputs = tmp_path / "in"
    inputs.mkdir(exist_ok=True)
    return run(module, list(args), inputs, tmp_path / "out", limits)


SPIN = "(local i32) (loop (local.set 0 (i32.add (local.get 0) (i32.const 1))) (br 0))"


def test_an_endless_loop_is_stopped_by_its_fuel_and_billed_all_of_it(tmp_path: Path) -> None:
    outcome = sandboxed(tmp_path, start(SPIN), Limits(fuel=5_000_000, wall_seconds=600))
    assert outcome.status == "fuel"
    assert outcome.fuel_used == 5_000_000
    assert "fuel" in outcome.reason
    assert outcome.output_hash == ""


def test_an_endless_loop_with_fuel_to_spare_is_stopped_at_its_deadline(tmp_path: Path) -> None:
    outcome = sandboxed(tmp_path, start(SPIN), Limits(fuel=10**15, wall_seconds=0.5))
    assert outcome.status == "deadline"
    assert "0.5 s" in outcome.reason


def test_a_memory_grow_loop_ends_with_memory(tmp_path: Path) -> None:
    bomb = start("(loop (drop (memory.grow (i32.const 16))) (br 0))")
    outcome = sandboxed(tmp_path, bomb, Limits(fuel=10**9, memory_bytes=8 << 20))
    assert outcome.status == "memory"
    assert "8 MiB" in outcome.reason


def test_a_module_asking_more_memory_than_allowed_does_not_start(tmp_path: Path) -> None:
    greedy = start("nop", memory='(memory (export "memory") 256)')  # 16 MiB at start
    outcome = sandboxed(tmp_path, greedy, Limits(fuel=10**6, memory_bytes=8 << 20))
    assert outcome.status == "memory"
    assert outcome.fuel_used == 0


def test_a_trap_ends_with_the_trap_message(tmp_path: Path) -> None:
    outcome = sandboxed(tmp_path, start("unreachable"), Limits(fuel=10**6))
    assert outcome.status == "trap"
    assert "unreachable" in outcome.reason
    outcome = sandboxed(
        tmp_path, start("(drop (i32.div_u (i32.const 1) (i32.const 0)))"), Limits(fuel=10**6)
    )
    assert (outcome.status, outcome.reason) == ("trap", "The job crashed: integer divide by zero.")


def test_random_bytes_and_a_truncated_module_are_malformed(tmp_path: Path) -> None:
    valid = start(SPIN)
    for module in (os.urandom(4096), b"\0asm" + os.urandom(64), valid[: len(valid) - 5], b""):
        outcome = sandboxed(tmp_path, module, Limits(fuel=10**6))
        assert outcome.status == "malformed", module[:8]
        assert outcome.fuel_used == 0


def test_a_module_without_start_or_with_unknown_imports_is_malformed(tmp_path: Path) -> None:
    no_start = wat('(module (func (export "main")))')
    assert sandboxed(tmp_path, no_start, Limits(fuel=10**6)).status == "malformed"
    socket = wat('(module (import "env" "connect" (func)) (func (export "_start")))')
    outcome = sandboxed(tmp_path, socket, Limits(fuel=10**6))
    assert outcome.status == "malformed"
    assert "connect" in outcome.reason


def test_proc_exit_gives_the_exit_code(tmp_path: Path) -> None:
    exits = wat(
        '(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))'
        ' (memory (export "memory") 1) (func (export "_start") (call $exit (i32.const 7))))'
    )
    outcome = sandboxed(tmp_path, exits, Limits(fuel=10**6))
    assert (outcome.status, outcome.exit_code) == ("exit", 7)
    assert "exit code 7" in outcome.reason


def test_the_hashes_name_the_content(tmp_path: Path) -> None:
    assert module_hash(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "x.txt").write_text("same")
    assert tree_hash(first) == tree_hash(second)
    (second / "sub" / "x.txt").write_text("other")
    assert tree_hash(first) != tree_hash(second)
    (second / "sub" / "x.txt").rename(second / "y.txt")
    (second / "y.txt").write_text("same")
    assert tree_hash(first) != tree_hash(second)


def test_importing_the_sandbox_leaves_wasmtime_unloaded() -> None:
    """The parts that start jobs import the sandbox; a resting node must not pay Wasmtime."""
    code = (
        "import sys, hameau.compute.sandbox, hameau.compute.workloads;"
        " print('wasmtime' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"

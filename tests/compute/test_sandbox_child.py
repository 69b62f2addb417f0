"""A job in its own process (docs/compute.md, "The sandbox"): the same outcome as in this
process, suspended without a step of progress, resumed, killed; its caps hold there too."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hameau.compute.sandbox import Child, Limits, address_space, run
from tests.compute.guests import built, compiled, job_folders

TICKER = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long steps = atol(argv[1]);
    FILE *progress = fopen("/out/progress.txt", "w");
    volatile unsigned long work = 0;
    for (long step = 0; step < steps; step++) {
        for (long i = 0; i < 3000000; i++) work += i ^ step;
        fprintf(progress, "step %ld\n", step);
        fflush(progress);
    }
    return fclose(progress);
}
"""


def _until(condition, seconds: float = 60.0) -> None:
    """Wait for `condition` (a test's precondition, not a measure of speed)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came"
        time.sleep(0.05)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def test_a_child_gives_what_the_same_run_gives_in_this_process(tmp_path: Path) -> None:
    module = built("pi").read_bytes()
    inputs, outputs = job_folders(tmp_path)
    limits = Limits(fuel=10**10)
    child = Child(module, ["5", "100000"], inputs, outputs, limits)
    outcome = child.wait(timeout=120)
    assert outcome is not None
    assert outcome == run(module, ["5", "100000"], inputs, tmp_path / "here", limits)
    assert outcome.status == "ok"
    assert child.wait() is outcome


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="not run: reads /proc (Linux)")
def test_a_suspended_child_makes_no_progress_until_resumed_and_a_kill_ends_it(
    tmp_path: Path,
) -> None:
    module = compiled(tmp_path, "ticker", TICKER)
    inputs, outputs = job_folders(tmp_path)
    progress = outputs / "progress.txt"
    child = Child(module, ["100000"], inputs, outputs, Limits(fuel=10**15, wall_seconds=600))
    _until(lambda: _size(progress) > 0)

    child.suspend()
    _until(lambda: _state(child.pid) == "T")
    stopped_at = _size(progress)
    time.sleep(1.0)
    assert _size(progress) == stopped_at
    assert child.wait(timeout=0.2) is None

    child.resume()
    _until(lambda: _size(progress) > stopped_at)
    assert child.wait(timeout=0.2) is None
    child.kill()
    outcome = child.wait(timeout=60)
    assert outcome is not None
    assert (outcome.status, outcome.output_hash) == ("killed", "")
    assert "stopped before it ended" in outcome.reason


def test_a_suspended_child_can_be_killed(tmp_path: Path) -> None:
    module = compiled(tmp_path, "ticker", TICKER)
    inputs, outputs = job_folders(tmp_path)
    child = Child(module, ["100000"], inputs, outputs, Limits(fuel=10**15))
    _until(lambda: _size(outputs / "progress.txt") > 0)
    child.suspend()
    child.kill()
    outcome = child.wait(timeout=60)
    assert outcome is not None and outcome.status == "killed"


def test_the_caps_hold_in_a_child(tmp_path: Path) -> None:
    """Memory and output bombs end with their reason under the child's own address-space and
    file-size limits (which must leave Wasmtime room to run)."""
    bomb = compiled(
        tmp_path, "grow", "int main(void) { for (;;) __builtin_wasm_memory_grow(0, 16); }"
    )
    writer = compiled(
        tmp_path,
        "writer",
        '#include <stdio.h>\nint main(void) { FILE *f = fopen("/out/big", "w");'
        " for (int i = 0; i < 1 << 22; i++) if (fputc('x', f) == EOF) return 1;"
        " return fclose(f) ? 1 : 0; }",
    )
    inputs, _ = job_folders(tmp_path)
    memory = Child(bomb, [], inputs, tmp_path / "a", Limits(fuel=10**9, memory_bytes=32 << 20))
    output = Child(writer, [], inputs, tmp_path / "b", Limits(fuel=10**10, output_bytes=1 << 20))
    ended = memory.wait(timeout=120), output.wait(timeout=120)
    assert [outcome and outcome.status for outcome in ended] == ["memory", "output_too_big"]
    assert (tmp_path / "b" / "big").stat().st_size <= (1 << 20) + 1  # stopped at the cap


def test_time_spent_suspended_does_not_count_toward_the_deadline(tmp_path: Path) -> None:
    """Suspended longer than its whole deadline, the job goes on once resumed, then meets its
    deadline for the time it really ran."""
    module = compiled(tmp_path, "ticker", TICKER)
    inputs, outputs = job_folders(tmp_path)
    progress = outputs / "progress.txt"
    child = Child(module, ["100000000"], inputs, outputs, Limits(fuel=10**15, wall_seconds=4))
    _until(lambda: _size(progress) > 0)
    child.suspend()
    _until(lambda: _state(child.pid) == "T")
    time.sleep(6)
    stopped_at = _size(progress)
    child.resume()
    _until(lambda: _size(progress) > stopped_at)
    outcome = child.wait(timeout=120)
    assert outcome is not None
    assert outcome.status == "deadline", outcome.reason


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="not run: reads /proc (Linux)")
def test_a_child_runs_at_the_lowest_priority_with_its_address_space_capped(
    tmp_path: Path,
) -> None:
    """Owner first (issue 15): the household's own work always wins the processor over a lent
    job (nice 19), and the job's process cannot take the machine's memory (RLIMIT_AS)."""
    module = compiled(tmp_path, "ticker", TICKER)
    inputs, outputs = job_folders(tmp_path)
    child = Child(module, ["100000"], inputs, outputs, Limits(fuel=10**15, memory_bytes=32 << 20))
    try:
        _until(lambda: _size(outputs / "progress.txt") > 0)
        nice = int(Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
        limits = Path(f"/proc/{child.pid}/limits").read_text().splitlines()
        space = next(line for line in limits if line.startswith("Max address space")).split()
        assert nice == 19
        assert space[3] == str(address_space(Limits(fuel=1, memory_bytes=32 << 20)))
    finally:
        child.kill()
        child.wait(timeout=60)


STARTER = """
import sys, time
from pathlib import Path
from hameau.compute.sandbox import Child, Limits
root = Path(sys.argv[1])
child = Child((root / "m.wasm").read_bytes(), ["100000"], root / "job" / "in", root / "out",
              Limits(fuel=10**15, wall_seconds=600))
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="not run: reads /proc (Linux)")
def test_a_job_ends_with_the_node_that_started_it(tmp_path: Path) -> None:
    """A provider killed mid-job (SIGKILL) leaves no job burning its processor until the
    job's deadline: the sandbox process goes with it."""
    import signal
    import subprocess
    import sys

    (tmp_path / "m.wasm").write_bytes(compiled(tmp_path, "ticker", TICKER))
    job_folders(tmp_path)
    (tmp_path / "out").mkdir()
    node = subprocess.Popen([sys.executable, "-c", STARTER, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert node.stdout is not None
    pid = int(node.stdout.readline())
    _until(lambda: _size(tmp_path / "out" / "progress.txt") > 0)
    node.send_signal(signal.SIGKILL)
    node.wait(timeout=30)
    _until(lambda: not Path(f"/proc/{pid}").exists() or _state(pid) == "Z")

"""Every state of a job has a timeout (docs/compute.md, "Every state has a timeout"), with small
timeouts set through the environment: a job running at a provider that stops answering
(SIGSTOP: its socket accepts, nothing answers) leaves "running" after `compute_lost_seconds`,
goes back to "matching", and with no other home to take it fails after
`compute_match_minutes`, the member's credit whole again."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.e2e.hamlet_nodes import hamlet
from tests.e2e.test_compute_hamlet import IDLE, _ok, _submitted

wasmtime = pytest.importorskip("wasmtime", reason="not run: the wasmtime package is missing")

SHORT = {"HAMEAU_COMPUTE_CHECK_SECONDS": "1", "HAMEAU_COMPUTE_LOST_SECONDS": "3",
         "HAMEAU_COMPUTE_MATCH_MINUTES": "0.1"}  # fmt: skip
SPIN = "(local i32) (loop (local.set 0 (i32.add (local.get 0) (i32.const 1))) (br 0))"


def test_a_provider_that_never_answers_then_no_provider_ends_the_job_by_its_timeouts(
    tmp_path: Path,
) -> None:
    module = tmp_path / "spin.wasm"
    module.write_bytes(
        wasmtime.wat2wasm(f'(module (memory (export "memory") 1) (func (export "_start") {SPIN}))')
    )
    env = {name: {**SHORT, **IDLE} for name in ("A", "B")}
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),), env=env) as homes:
        a, b = homes["A"], homes["B"]
        _ok(a, "member", "add", "alice")
        _ok(a, "ledger", "issue", "alice", "20")
        _ok(b, "compute", "offer", "--enable", "--price", "0", "--max-fuel", "1000000000000")
        out = _ok(a, "compute", "submit", module, "--member", "alice", "--fuel", "500G",
                  "--memory", "16M", "--budget", "1", "--redundancy", "1", "--deadline", "30m")  # fmt: skip
        job = _submitted(out)
        end = time.monotonic() + 120
        while "run at B: running" not in (said := _ok(a, "compute", "status", job)):
            assert time.monotonic() < end, said
            time.sleep(0.5)
        b.served.process.send_signal(signal.SIGSTOP)  # B never answers again
        try:
            end = time.monotonic() + 180
            while " failed " not in (said := _ok(a, "compute", "status", job)).splitlines()[0]:
                assert time.monotonic() < end, f"the job never left its state:\n{said}"
                time.sleep(1)
        finally:
            b.served.process.send_signal(signal.SIGCONT)
        assert "run at B: failed (The provider could not be reached" in said, said
        assert "failed (No paired home took the job in time" in said.splitlines()[0], said
        assert "cost 0,00" in said.splitlines()[0], said
        assert "20,00" in _ok(a, "ledger", "balance", "alice")  # every escrow back

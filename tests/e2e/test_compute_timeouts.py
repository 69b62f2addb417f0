"""Every state of a job has a timeout (docs/compute.md, "Every state has a timeout"), with
short timeouts given as the nodes' own settings (environment, decimals of minutes). Three
homes: A submits, B lends, C keeps the hamlet's ledger (its notary); B submits one job A runs.

- A provider that stops answering (SIGSTOP: its socket accepts, nothing answers): the run at B
  leaves "running" after A's `compute_lost_seconds`, the job goes back to "matching", and with
  no other home to take it fails after `compute_match_minutes`, its escrow refunded.
- The notary out of reach while a verified job settles: the job stays "settling" at most
  `compute_settle_minutes`, then fails saying so; its contract, still open, is refunded to
  the member once its deadline (the job's plus `compute_escrow_margin_minutes`) has passed.
- The submitting home gone mid-job (B stopped): A stops the run it does for B once B has not
  asked about it for `compute_lost_seconds`, and refunds its contract past its deadline."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.test_compute_hamlet import IDLE, _ok, _submitted

wasmtime = pytest.importorskip("wasmtime", reason="not run: the wasmtime package is missing")

SHORT = {"HAMEAU_COMPUTE_CHECK_SECONDS": "1", "HAMEAU_COMPUTE_MATCH_MINUTES": "0.1",
         "HAMEAU_COMPUTE_SETTLE_MINUTES": "0.1", "HAMEAU_COMPUTE_ESCROW_MARGIN_MINUTES": "0.05"}  # fmt: skip
# A gives up on a silent provider, and stops a run for a silent asker, after 8 s; B, whose
# asker A is busy for seconds with the notary out of reach, after a minute.
LOST = {"A": "8", "B": "60", "C": "60"}
SPIN = "(local i32) (loop (local.set 0 (i32.add (local.get 0) (i32.const 1))) (br 0))"
# A billion turns (seconds of work at the provider), then a normal end with no output.
COUNT = (
    "(local i64) (loop (local.set 0 (i64.add (local.get 0) (i64.const 1)))"
    " (br_if 0 (i64.lt_u (local.get 0) (i64.const 1000000000))))"
)


def _module(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.wasm"
    path.write_bytes(
        wasmtime.wat2wasm(f'(module (memory (export "memory") 1) (func (export "_start") {body}))')
    )
    return path


def _submit(home: Home, module: Path, member: str, deadline: str) -> str:
    return _submitted(_ok(home, "compute", "submit", module, "--member", member, "--fuel",
                          "500G", "--memory", "16M", "--budget", "1", "--redundancy", "1",
                          "--deadline", deadline))  # fmt: skip


def _until(look: Callable[[], str | None], done: Callable[[str], bool], what: str,
           seconds: float = 180, every: float = 1) -> str:  # fmt: skip
    """What `look` sees once `done` says so (the last of it in the failure's message)."""
    end = time.monotonic() + seconds
    while not done(seen := look() or ""):
        assert time.monotonic() < end, f"{what}:\n{seen}"
        time.sleep(every)
    return seen


def _provided(home: Home, job: str) -> str | None:
    """The state of the run `home` does for job `job` (its uid), read from its database."""
    with sqlite3.connect(home.data_dir / "hameau.db") as db:
        found = db.execute("SELECT state FROM compute_provided WHERE job = ?", (job,)).fetchone()
    return found[0] if found else None


def _one(home: Home, query: str, *args: str) -> str:
    """One value read from the home's database."""
    with sqlite3.connect(home.data_dir / "hameau.db") as db:
        return str(db.execute(query, args).fetchone()[0])


def _uid(home: Home, job: str) -> str:
    return _one(home, "SELECT uid FROM compute_jobs WHERE id = ?", job)


def _escrow(notary: Home, escrow_id: str) -> str:
    """The escrow's state on the ledger, as its notary keeps it."""
    return _one(notary, "SELECT state FROM ledger_escrows WHERE id = ?", escrow_id)


def _ledger(homes: dict[str, Home]) -> None:
    """C opens the hamlet's ledger (its notary); alice at A and bob at B get 20 euros."""
    a, b, c = homes["A"], homes["B"], homes["C"]
    _ok(c, "member", "add", "carol")
    _ok(c, "ledger", "balance", "carol")
    for home, member in ((a, "alice"), (b, "bob")):
        _ok(home, "member", "add", member)
        _ok(home, "ledger", "balance", member)  # opened through C
        _ok(c, "ledger", "issue", member, "20")
    for home in (a, b):
        _ok(home, "compute", "offer", "--enable", "--price", "0", "--cores", "2",
            "--max-fuel", "1000000000000")  # fmt: skip


def test_a_silent_provider_an_unreachable_notary_and_a_vanished_submitter_end_in_time(
    tmp_path: Path,
) -> None:
    spin, count = _module(tmp_path, "spin", SPIN), _module(tmp_path, "count", COUNT)
    env = {n: {**SHORT, **IDLE, "HAMEAU_COMPUTE_LOST_SECONDS": LOST[n]} for n in "ABC"}
    pairs = (("B", "A"), ("C", "A"), ("C", "B"))
    with hamlet(tmp_path, names=("A", "B", "C"), pairs=pairs, env=env) as homes:
        a, b, c = homes["A"], homes["B"], homes["C"]
        _ledger(homes)
        silent = _submit(a, spin, "alice", "30m")  # at B, which stops answering
        _until(lambda: _ok(a, "compute", "status", silent), lambda s: ": running" in s,
               "the job never ran at B")  # fmt: skip
        settling = _submit(a, count, "alice", "70s")  # verified while C is stopped
        # The notary stops once the counting job runs at B (its escrow opened), before A can
        # settle it: it runs for seconds, the test looks every 0.2 s.
        _until(lambda: _provided(b, _uid(a, settling)), bool, "it never started at B", every=0.2)
        c.served.process.send_signal(signal.SIGSTOP)
        try:
            said = _until(lambda: _ok(a, "compute", "status", settling),
                          lambda s: " failed " in s, "the settlement never timed out")  # fmt: skip
        finally:
            c.served.process.send_signal(signal.SIGCONT)
        first = said.splitlines()[0]
        assert "failed (Settlement failed: the ledger's notary C could not be reached" in first
        assert "refunds the contracts at their deadline" in first and "cost 0,00" in first
        assert "run at B: agreed" in said, said
        orphan = _submit(b, spin, "bob", "65s")  # at A, for B which goes away
        _until(lambda: _ok(b, "compute", "status", orphan), lambda s: ": running" in s,
               "the job never ran at A")  # fmt: skip
        b.served.process.send_signal(signal.SIGSTOP)  # B never answers, nor asks, again
        try:
            said = _until(lambda: _ok(a, "compute", "status", silent),
                          lambda s: " failed " in s.splitlines()[0], "it never left its state")  # fmt: skip
            assert "run at B: failed (The provider could not be reached" in said, said
            assert "failed (No paired home took the job in time" in said.splitlines()[0], said
            assert "cost 0,00" in said.splitlines()[0], said
            ran = _until(lambda: _ok(a, "compute", "ran"), lambda s: "failed refunded" in s,
                         "A never refunded the contract of the run it stopped")  # fmt: skip
            assert "failed refunded  status lost (The home that asked for the job stopped" in ran
            # alice's two contracts back (the counting job's refunded at its deadline)
            _until(lambda: _ok(a, "ledger", "balance", "alice"), lambda s: "20,00" in s,
                   "the contract of the unsettled job was never refunded")  # fmt: skip
            query = "SELECT escrow_id FROM compute_runs WHERE job_id = ?"
            assert _escrow(c, _one(a, query, settling)) == "refunded"
            assert "20,00" in _ok(c, "ledger", "balance", "bob")
            assert _escrow(c, _one(a, "SELECT escrow_id FROM compute_provided")) == "refunded"
        finally:
            b.served.process.send_signal(signal.SIGCONT)

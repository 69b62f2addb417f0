"""Compute jobs across real homes (`hameau serve --tls` processes paired by tests/e2e/
hamlet_nodes.py): a job submitted at A is matched at two providers, run twice in the sandbox,
verified and paid through the ledger's escrow; a dishonest provider (its outputs changed) is
caught by a third and not paid; a provider SIGKILLed mid-job has its job matched elsewhere.
The workload is the repository's Monte Carlo estimate of pi, built with clang for WASI."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.hamlet_nodes import Home, hamlet

# Every provider idle whatever the shared machine's load (nobody uses these homes); the
# submitter looks at its jobs every second, and a provider unreachable for 5 s is lost.
FAST = {"HAMEAU_COMPUTE_CHECK_SECONDS": "1", "HAMEAU_COMPUTE_LOST_SECONDS": "5"}
IDLE = {"HAMEAU_COMPUTE_IDLE_LOAD": "1000", "HAMEAU_COMPUTE_IDLE_MINUTES": "0.01"}


def _pi() -> Path:
    try:
        from hameau.compute.workloads import WorkloadUnavailable, build
    except ImportError:
        pytest.skip("not run: hameau.compute.workloads (the compute-run lane) is not here yet")
    try:
        return build("pi")
    except WorkloadUnavailable as missing:
        pytest.skip(f"not run: {missing}")


def _ok(home: Home, *args: str | Path) -> str:
    done = home.run(*args)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


def _lend(home: Home, price: str, max_fuel: str = "100000000000") -> None:
    _ok(home, "compute", "offer", "--enable", "--price", price, "--max-fuel", max_fuel,
        "--memory", "256M")  # fmt: skip


def _member_with_credit(home: Home, euros: str) -> None:
    _ok(home, "member", "add", "alice")
    _ok(home, "ledger", "issue", "alice", euros)


def _wait(home: Home, job: str, state: str, seconds: float = 180) -> str:
    """`hameau compute status JOB` once the job is in `state` (or has ended otherwise)."""
    end = time.monotonic() + seconds
    while True:
        said = _ok(home, "compute", "status", job)
        first = said.splitlines()[0]
        if f" {state}" in first or (" done" in first or " failed" in first):
            return said
        assert time.monotonic() < end, f"job {job} never became {state}:\n{said}"
        time.sleep(1)


def _submitted(out: str) -> str:
    found = re.search(r"Job (\d+) submitted", out)
    assert found, out
    return found.group(1)


def _running_at(home: Home, job: str) -> str:
    """The name of the provider the job first runs at (which one: by price, then record, then
    node id), once it runs there."""
    end = time.monotonic() + 120
    while not (
        found := re.search(r"run at (\w+): running", said := _ok(home, "compute", "status", job))
    ):
        assert time.monotonic() < end, said
        time.sleep(0.5)
    return found.group(1)


def _environment(*tampering: str, names: tuple[str, ...]) -> dict[str, dict[str, str]]:
    given = {name: {**FAST, **IDLE} for name in names}
    for name in tampering:
        given[name]["HAMEAU_COMPUTE_TAMPER_OUTPUTS"] = "1"
    return given


def test_a_job_is_matched_run_twice_verified_and_paid(tmp_path: Path) -> None:
    module = _pi()
    names = ("A", "B", "C")
    with hamlet(tmp_path, names=names, env=_environment(names=names)) as homes:
        a, b, c = homes["A"], homes["B"], homes["C"]
        _member_with_credit(a, "20")  # A keeps the hamlet's ledger (its notary)
        _lend(b, "0.02")
        _lend(c, "0.02")
        out = _ok(a, "compute", "submit", module, "--member", "alice", "--arg", "7",
                  "--arg", "300000", "--fuel", "50M", "--memory", "64M", "--budget", "5",
                  "--deadline", "10m")  # fmt: skip
        job = _submitted(out)
        said = _wait(a, job, "done")
        assert said.splitlines()[0].split()[3] == "done", said
        runs = [line for line in said.splitlines() if line.startswith("  run at")]
        assert len(runs) == 2 and all(": agreed" in run for run in runs), said
        assert {"B", "C"} == {run.split()[2].rstrip(":") for run in runs}
        paid = re.findall(r"paid (\S+)", said)
        assert paid[0] == paid[1] and paid[0] != "0,00"
        fetched = tmp_path / "out"
        _ok(a, "compute", "fetch", job, "--to", fetched)
        assert (fetched / "pi.txt").read_text().startswith("3.1")
        # The credit moved: alice paid what the two runs cost, each provider earned its part.
        cost = re.search(r"cost (\S+)", said.splitlines()[0]).group(1)  # type: ignore[union-attr]
        assert cost != "0,00"
        balance = _ok(a, "ledger", "balance", "alice")
        assert "20,00" not in balance
        for provider in (b, c):
            ran = _ok(provider, "compute", "ran")
            assert "done agreed" in ran and f"earned {paid[0]}" in ran, ran
        # The footprint counts the CPU time: borrowed at A (as B and C reported), lent at B.
        borrowed = _app_energy(a, "compute-borrowed")
        lent = _app_energy(b, "compute-lent")
        assert borrowed["label"] == lent["label"] == "estimated"
        assert borrowed["value"] > 0 and lent["value"] > 0


def _app_energy(home: Home, app: str) -> dict[str, Any]:
    report = json.loads(_ok(home, "impact", "report", "--format", "json"))
    for figure in report["figures"]:
        if figure["section"] == "energy per app, 30 days" and figure["item"] == app:
            return figure
    raise AssertionError(f"no {app} figure in {report['figures']}")


def test_a_provider_returning_a_wrong_output_is_caught_and_not_paid(tmp_path: Path) -> None:
    module = _pi()
    names = ("A", "B", "C", "D")
    pairs = (("B", "A"), ("C", "A"), ("D", "A"))
    with hamlet(tmp_path, names=names, pairs=pairs, env=_environment("D", names=names)) as homes:
        a, d = homes["A"], homes["D"]
        _member_with_credit(a, "20")
        _lend(d, "0.01")  # the cheapest: matched first
        _lend(homes["B"], "0.02")
        _lend(homes["C"], "0.02")
        out = _ok(a, "compute", "submit", module, "--member", "alice", "--arg", "11",
                  "--arg", "300000", "--fuel", "50M", "--budget", "5", "--deadline", "10m")  # fmt: skip
        job = _submitted(out)
        said = _wait(a, job, "done")
        assert said.splitlines()[0].split()[3] == "done", said
        runs = {
            line.split()[2].rstrip(":"): line
            for line in said.splitlines()
            if line.startswith("  run at")
        }
        assert set(runs) == {"B", "C", "D"}, said  # a third provider after the mismatch
        assert ": disagreed" in runs["D"] and "paid 0,00" in runs["D"], said
        assert ": agreed" in runs["B"] and ": agreed" in runs["C"], said
        ran = _ok(d, "compute", "ran")
        assert "disagreed" in ran and "earned 0,00" in ran, ran
        _ok(a, "compute", "fetch", job, "--to", tmp_path / "out")
        assert (tmp_path / "out" / "pi.txt").read_text().startswith("3.1")


def test_a_provider_killed_mid_job_has_the_job_matched_elsewhere(tmp_path: Path) -> None:
    module = _pi()
    names = ("A", "B", "C")
    with hamlet(tmp_path, names=names, env=_environment(names=names)) as homes:
        a, b, c = homes["A"], homes["B"], homes["C"]
        _member_with_credit(a, "20")
        _lend(b, "0")  # free
        _lend(c, "0")
        # About a minute of computing here: long enough to be killed in the middle.
        out = _ok(a, "compute", "submit", module, "--member", "alice", "--arg", "5",
                  "--arg", "1500000000", "--fuel", "90G", "--budget", "1", "--redundancy", "1",
                  "--deadline", "20m")  # fmt: skip
        job = _submitted(out)
        first = _running_at(a, job)
        other = "C" if first == "B" else "B"
        homes[first].served.process.kill()  # SIGKILL: the provider is gone mid-job
        homes[first].served.process.wait(timeout=15)
        said = _wait(a, job, "done", seconds=400)
        assert said.splitlines()[0].split()[3] == "done", said
        assert f"run at {first}: failed" in said and f"run at {other}: agreed" in said, said
        _ok(a, "compute", "fetch", job, "--to", tmp_path / "out")
        assert (tmp_path / "out" / "pi.txt").read_text().startswith("3.1")


def test_an_escrow_at_a_home_that_is_not_the_notary_goes_through_the_notary(
    tmp_path: Path,
) -> None:
    """EmbeddedEscrow at B, whose ledger A keeps: each operation is sequenced by A (it used to
    be appended at B alone, which no notary sealed)."""
    from hameau.config import load_settings
    from hameau.ledger import journal, service
    from hameau.ledger.embedded_escrow import EmbeddedEscrow
    from hameau.ledger.escrow import Conditions, EscrowError
    from hameau.node.datadir import open_node
    from hameau.node.db import transaction

    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),)) as homes:
        a, b = homes["A"], homes["B"]
        _ok(a, "member", "add", "alice")
        _ok(a, "ledger", "balance", "alice")  # A opens the hamlet's ledger: its notary
        _ok(b, "member", "add", "bob")
        _ok(b, "ledger", "balance", "bob")  # bob's account, opened through A
        _ok(a, "ledger", "issue", "bob", "10")
        at_a, at_b = open_node(load_settings(a.data_dir)), open_node(load_settings(b.data_dir))
        try:
            with transaction(at_a.sessions) as session:
                payee = service.node_account(at_a, session).id
            with transaction(at_b.sessions) as session:
                signer = service.node_account(at_b, session).id
                bob = service.find_account(session, "bob").id
            escrow = EmbeddedEscrow(at_b)
            deadline = int(time.time()) + 3600
            with pytest.raises(EscrowError) as refused:  # the notary's refusal, as its reason
                escrow.open_escrow(bob, 5000, Conditions((payee,), signer, deadline))
            assert refused.value.reason == "insufficient"
            opened = escrow.open_escrow(bob, 300, Conditions((payee,), signer, deadline))
            assert escrow.balance(bob) == 700
            receipt = escrow.sign_receipt(opened, {payee: 200}, signer)
            settled = escrow.release(receipt)
            assert dict(settled.paid) == {payee: 200, bob: 100}
            assert escrow.release(receipt) == settled  # delivered twice: nothing more
            assert escrow.balance(bob) == 800
            with at_a.sessions() as session:  # the notary sealed every step
                assert journal.head(session).seq >= 5  # type: ignore[union-attr]
        finally:
            at_a.close()
            at_b.close()
        assert "8,00" in _ok(a, "ledger", "balance", "bob")
        assert "sound" in _ok(a, "ledger", "verify")


def _forge(home: Home, key: object) -> str:
    """Replace the receipt of the run `home` finished with one signed by `key` (not its own):
    what a provider forging its receipt would send. Returns the run's id."""
    import json
    import sqlite3

    from hameau.compute import receipts

    with sqlite3.connect(home.data_dir / "hameau.db") as db:
        run, text = db.execute(
            "SELECT run, receipt FROM compute_provided WHERE state = 'done'"
        ).fetchone()
        _, forged = receipts.sign(receipts.Receipt(**json.loads(text)), key.sign)  # type: ignore[attr-defined]
        db.execute("UPDATE compute_provided SET signature = ? WHERE run = ?", (forged, run))
    return str(run)


def test_a_forged_receipt_is_refused_and_not_paid(tmp_path: Path) -> None:
    import signal

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    module = _pi()
    names = ("A", "B", "C")
    env = _environment(names=names)
    for name in ("B", "C"):  # A is stopped while the run ends: its providers wait for it
        env[name]["HAMEAU_COMPUTE_LOST_SECONDS"] = "600"  # (a run nobody asks about stops)
    with hamlet(tmp_path, names=names, env=env) as homes:
        a, b, c = homes["A"], homes["B"], homes["C"]
        _member_with_credit(a, "20")
        _lend(b, "0", max_fuel="1000000000000")
        _lend(c, "0", max_fuel="1000000000000")
        # Some 3 billion points: tens of seconds at the provider, so A is surely paused before
        # it ends (a job of two seconds could end, and be checked by A, before the pause).
        out = _ok(a, "compute", "submit", module, "--member", "alice", "--arg", "3",
                  "--arg", "3000000000", "--fuel", "200G", "--budget", "1", "--redundancy", "1",
                  "--deadline", "20m")  # fmt: skip
        job = _submitted(out)
        first = _running_at(a, job)
        forger, other = homes[first], "C" if first == "B" else "B"
        a.served.process.send_signal(signal.SIGSTOP)  # A does not look while the receipt changes
        try:
            end = time.monotonic() + 300
            while "done" not in _ok(forger, "compute", "ran"):
                assert time.monotonic() < end, f"{first} never finished"
                time.sleep(1)
            _forge(forger, Ed25519PrivateKey.generate())
        finally:
            a.served.process.send_signal(signal.SIGCONT)
        said = _wait(a, job, "done", seconds=400)
        assert said.splitlines()[0].split()[3] == "done", said
        assert f"run at {first}: disagreed (The receipt is not signed" in said, said
        assert f"run at {other}: agreed" in said, said
        assert "earned 0,00" in _ok(forger, "compute", "ran")


def test_a_job_no_home_takes_fails_in_time_and_costs_nothing(tmp_path: Path) -> None:
    module = _pi()
    env = {name: {**FAST, "HAMEAU_COMPUTE_MATCH_MINUTES": "0.05"} for name in ("A", "B")}
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),), env=env) as homes:
        a = homes["A"]
        _member_with_credit(a, "20")  # B lends nothing (lending is off until an admin says)
        out = _ok(a, "compute", "submit", module, "--member", "alice", "--arg", "1",
                  "--arg", "1000", "--fuel", "10M", "--budget", "2", "--deadline", "10m")  # fmt: skip
        said = _wait(a, _submitted(out), "failed", seconds=120)
        assert "failed (No paired home took the job in time" in said, said
        assert "run at" not in said
        assert "20,00" in _ok(a, "ledger", "balance", "alice")
        fetched = a.run("compute", "fetch", _submitted(out), "--to", tmp_path / "out")
        assert fetched.returncode != 0 and "not verified" in fetched.stderr

"""Owner first, across the hamlet: a job submitted at A runs at B and C (homes served as
processes); a member of B logs in while it runs, and B's sandbox process is stopped (SIGSTOP,
no CPU used) while the member is active; once B is quiet again the job goes on there, and it
ends verified with both providers agreeing."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.served import login_cookie
from tests.e2e.test_compute_hamlet import FAST, _ok, _pi, _submitted, _wait
from tests.helpers import PASSWORD
from tests.node.test_cli import hameau

# Idle after 30 s without a member's request (and whatever the shared machine's load): a login
# keeps B's member active for those 30 s, then the job may resume.
OWNER = {**FAST, "HAMEAU_COMPUTE_IDLE_LOAD": "1000", "HAMEAU_COMPUTE_IDLE_MINUTES": "0.5"}


def _sandboxes(home: Home) -> list[int]:
    """The pids of the sandbox processes B's server started (its children running a job)."""
    server = home.served.process.pid
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == server and b"hameau.compute.sandbox_child" in command:
            found.append(int(entry.name))
    return found


def _state_and_cpu(pid: int) -> tuple[str, int]:
    """The process's state letter and its CPU ticks (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], int(fields[11]) + int(fields[12])


def test_a_member_becoming_active_suspends_the_job_which_goes_on_once_quiet(
    tmp_path: Path,
) -> None:
    module = _pi()
    names = ("A", "B", "C")
    with hamlet(tmp_path, names=names, env={name: dict(OWNER) for name in names}) as homes:
        a, b = homes["A"], homes["B"]
        _ok(a, "member", "add", "alice")
        _ok(a, "ledger", "issue", "alice", "5")
        added = hameau("member", "add", "bob", "--password-stdin", data_dir=b.data_dir,
                       stdin=PASSWORD)  # fmt: skip
        assert added.returncode == 0, added.stderr
        for lender in (b, homes["C"]):
            _ok(lender, "compute", "offer", "--enable", "--price", "0",
                "--max-fuel", "1000000000000", "--memory", "256M")  # fmt: skip
        # About 3 billion points: tens of seconds of computing, 48 units of fuel a point.
        out = _ok(a, "compute", "submit", module, "--member", "alice", "--arg", "5",
                  "--arg", "3000000000", "--fuel", "200G", "--memory", "64M", "--budget", "1",
                  "--deadline", "20m")  # fmt: skip
        job = _submitted(out)
        end = time.monotonic() + 120
        while "run at B: running" not in _ok(a, "compute", "status", job):
            assert time.monotonic() < end, "the job never ran at B"
            time.sleep(0.5)
        while not (running := _sandboxes(b)):
            assert time.monotonic() < end, "B never started its sandbox"
            time.sleep(0.5)
        pid = running[0]
        login_cookie(b.url, "bob", PASSWORD, verify=b.verify)  # bob sits down at home B
        end = time.monotonic() + 30
        while (state := _state_and_cpu(pid))[0] != "T":
            assert time.monotonic() < end, f"B's job was never suspended: {state}"
            time.sleep(0.5)
        time.sleep(2)
        assert _state_and_cpu(pid) == state  # stopped: not a tick of CPU while bob is there
        said = _wait(a, job, "done", seconds=600)  # bob gone 30 s: B goes on, then verified
        assert said.splitlines()[0].split()[3] == "done", said
        runs = [line for line in said.splitlines() if line.startswith("  run at")]
        assert len(runs) == 2 and all(": agreed" in run for run in runs), said

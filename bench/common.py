"""What the benchmarks share: a demo node served as a real process, a bare peer app,
and readings of a process from /proc (Linux)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.served import free_port, login_cookie, wait_until_up  # noqa: E402

log_in = login_cookie

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Reading:
    rss_kb: int
    cpu_seconds: float
    context_switches: int
    threads: int


def read_process(pid: int) -> Reading:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    switches = 0
    tasks = list(Path(f"/proc/{pid}/task").iterdir())
    for task in tasks:
        for line in (task / "status").read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                switches += int(line.split()[1])
    return Reading(rss, cpu, switches, len(tasks))


@dataclass
class Running:
    url: str
    pid: int


@contextmanager
def process(
    command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Running]:
    """A server started with `--port`, once its /healthz answers."""
    port = free_port()
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    with log.open("w") as output:
        child = subprocess.Popen(
            [*command, "--port", str(port)], stdout=output, stderr=subprocess.STDOUT, text=True,
            env=env, cwd=cwd,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, child, log)  # type: ignore[arg-type]
        yield Running(url, child.pid)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=20)
        log.unlink()


@contextmanager
def demo_node(env: dict[str, str] | None = None) -> Iterator[tuple[Running, dict[str, str]]]:
    """A demo household served by `hameau serve`, with its logins (`env`: more variables)."""
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "demo"
        subprocess.run(
            [sys.executable, "-m", "hameau", "demo", "--data-dir", str(data)],
            check=True, capture_output=True,
        )  # fmt: skip
        logins = {}
        for line in (data / "demo-logins.txt").read_text().splitlines():
            name, password, _ = line.split("\t")
            logins[name] = password
        command = [sys.executable, "-m", "hameau", "serve", "--data-dir", str(data)]
        with process(command, env={**os.environ, **env} if env else None) as running:
            yield running, logins


@contextmanager
def bare_app(stock: bool = False) -> Iterator[Running]:
    """The peer: a bare FastAPI route, served by the same server code and settings
    (or, with ``stock``, by uvicorn as shipped)."""
    command = [sys.executable, str(ROOT / "bench" / "bare_app.py")] + (["--stock"] if stock else [])
    with process(command) as running:
        yield running

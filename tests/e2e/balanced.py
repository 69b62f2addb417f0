"""Several `hameau serve` processes of one node behind Caddy, configured by the file shipped
in deploy/ (docs/scale.md): for the tests of several processes and bench/scale_out.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.served import Served, free_port, serve

CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "Caddyfile"


def caddy_missing() -> str | None:
    if shutil.which("caddy") is None:
        return "not run: Caddy is not installed (apt-get install caddy; .ci/run does)"
    return None


@dataclass
class Proxy:
    url: str
    process: subprocess.Popen[bytes]


@dataclass
class Balanced:
    url: str  # Caddy's: what members and their clients use
    processes: list[Served]  # each process, to address one directly
    proxy: Proxy


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"caddy exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"caddy did not answer in 30 s:\n{log.read_text()}")


@contextmanager
def caddy(upstreams: list[str], folder: Path) -> Iterator[Proxy]:
    """Caddy with deploy/Caddyfile in front of ``upstreams`` (host:port), on a free port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HAMEAU_SITE": url,  # http://: no certificate to get for a test
        "HAMEAU_UPSTREAMS": " ".join(upstreams),
        "XDG_DATA_HOME": str(folder),  # Caddy's own state, not the user's home
        "XDG_CONFIG_HOME": str(folder),
    }
    log = folder / f"caddy-{port}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            ["caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
            env=env, stdout=output, stderr=subprocess.STDOUT, cwd=folder,
        )  # fmt: skip
    try:
        _wait_for(url, process, log)
        yield Proxy(url, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def balanced(root: Path, count: int, env: dict[str, str] | None = None) -> Iterator[Balanced]:
    """``count`` processes serving the node in ``root`` (its settings name a shared database
    and store), one after the other started, then Caddy in front of them."""
    with ExitStack() as stack:
        processes = [stack.enter_context(serve(root, env=env)) for _ in range(count)]
        upstreams = [process.url.removeprefix("http://") for process in processes]
        proxy = stack.enter_context(caddy(upstreams, root.parent / "caddy"))
        yield Balanced(proxy.url, processes, proxy)

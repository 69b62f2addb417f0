"""Several `hameau serve` processes of one node behind a load balancer, configured by the file
shipped in deploy/ (docs/scale.md): HAProxy (deploy/haproxy.cfg, the front recommended) or
Caddy (deploy/Caddyfile); for the tests of several processes and bench/scale_out.py."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.served import Served, free_port, serve

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CADDYFILE = DEPLOY / "Caddyfile"
HAPROXY_CFG = DEPLOY / "haproxy.cfg"
PROXIES = ("haproxy", "caddy")


def program(name: str) -> str | None:
    """The proxy's program; Debian puts haproxy in /usr/sbin, not on every user's PATH."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def proxy_missing(name: str = "haproxy") -> str | None:
    if program(name) is None:
        return f"not run: {name} is not installed (apt-get install {name}; .ci/run does)"
    return None


def caddy_missing() -> str | None:
    return proxy_missing("caddy")


@dataclass
class Proxy:
    name: str  # "haproxy" or "caddy"
    url: str
    process: subprocess.Popen[bytes]
    log: Path  # what it printed: HAProxy logs each request there

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Balanced:
    url: str  # the proxy's: what members and their clients use
    processes: list[Served]  # each process, to address one directly
    proxy: Proxy


def _wait_for(proxy: Proxy) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            raise RuntimeError(f"{proxy.name} exited early:\n{proxy.output()}")
        try:
            with urllib.request.urlopen(proxy.url + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proxy.name} did not answer in 30 s:\n{proxy.output()}")


@contextmanager
def _running(name: str, command: list[str], env: dict[str, str], folder: Path, port: int,
             **popen: Any) -> Iterator[Proxy]:  # fmt: skip
    """``command`` (a proxy on ``port``), its output in a log in ``folder``."""
    log = folder / f"{name}-{port}.log"
    mine = {key: value for key, value in os.environ.items() if not key.startswith("HAMEAU_")}
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, env={**mine, **env}, stdout=output, stderr=subprocess.STDOUT,
            **{"cwd": folder, **popen},
        )  # fmt: skip
    proxy = Proxy(name, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_for(proxy)
        yield proxy
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def caddy(upstreams: list[str], folder: Path) -> Iterator[Proxy]:
    """Caddy with deploy/Caddyfile in front of ``upstreams`` (host:port), on a free port."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "HAMEAU_SITE": f"http://127.0.0.1:{port}",  # http://: no certificate to get for a test
        "HAMEAU_UPSTREAMS": " ".join(upstreams),
        "XDG_DATA_HOME": str(folder),  # Caddy's own state, not the user's home
        "XDG_CONFIG_HOME": str(folder),
    }
    command = ["caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
    with _running("caddy", command, env, folder, port) as proxy:
        yield proxy


@contextmanager
def haproxy(upstreams: list[str], folder: Path) -> Iterator[Proxy]:
    """HAProxy with deploy/haproxy.cfg in front of ``upstreams`` (host:port, four at most), on
    a free port, in the foreground. It needs no root: run as `nobody` when the tests are root,
    reading a copy of the file in a temp folder of its own (the repository's may be private)."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    env = {"HAMEAU_BIND": f"127.0.0.1:{port}"}
    env.update({f"HAMEAU_PROCESS_{n}": where for n, where in enumerate(upstreams, 1)})
    popen: dict[str, Any] = {}
    if os.getuid() == 0:
        nobody = pwd.getpwnam("nobody")
        popen = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    with tempfile.TemporaryDirectory(prefix="hameau-haproxy-") as config_folder:
        os.chmod(config_folder, 0o711)  # noqa: S103 (HAProxy's user goes in, lists nothing)
        config = Path(config_folder) / "haproxy.cfg"
        shutil.copyfile(HAPROXY_CFG, config)
        config.chmod(0o644)
        # -db: in the foreground, one process (no master): the CPU counted is the work's.
        command = [program("haproxy") or "haproxy", "-db", "-f", str(config)]
        with _running("haproxy", command, env, folder, port, cwd=config_folder, **popen) as proxy:
            yield proxy


@contextmanager
def balanced(
    root: Path, count: int, env: dict[str, str] | None = None, proxy: str = "haproxy"
) -> Iterator[Balanced]:
    """``count`` processes serving the node in ``root`` (its settings name a shared database
    and store), one after the other started, then ``proxy`` (haproxy or caddy) in front."""
    front = {"haproxy": haproxy, "caddy": caddy}[proxy]
    with ExitStack() as stack:
        processes = [stack.enter_context(serve(root, env=env)) for _ in range(count)]
        upstreams = [process.url.removeprefix("http://") for process in processes]
        started = stack.enter_context(front(upstreams, root.parent / proxy))
        yield Balanced(started.url, processes, started)

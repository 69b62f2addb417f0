"""Real paired nodes for the hamlet's tests: `hameau serve --tls` processes started, named and
paired with the command line (`hamlet invite` / `hamlet join`) at their https:// addresses, as
an admin would. Every hamlet test starts its nodes here, so that how nodes reach each other
(addresses, TLS) is decided in one place. A test's own httpx client toward a node trusts its
certificate with `verify=home.verify`."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hameau.node.datadir import Layout
from hameau.node.identity import load_identity
from tests.e2e.served import Served, free_port, serve


def hameau(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hameau", *map(str, args)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@dataclass
class Home:
    name: str
    served: Served
    stack: ExitStack
    env: dict[str, str] | None = None

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's `verify` toward this node: a context trusting its own certificate."""
        return self.served.verify

    def restart(self, *args: str, tls: bool = True) -> None:
        """Stop the node and serve it again on the same port (with `args`, e.g. --cert;
        without --tls if `tls` is False: its url is then http://)."""
        process = self.served.process
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        port = int(self.url.rsplit(":", 1)[1])
        again = serve(self.data_dir, env=self.env, port=port, tls=tls, args=args)
        self.served = self.stack.enter_context(again)

    @property
    def data_dir(self) -> Path:
        return self.served.data_dir

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return hameau(*args, "--data-dir", self.data_dir)

    def key(self) -> Ed25519PrivateKey:
        return load_identity(Layout(self.data_dir).key_file).private_key

    @property
    def node_id(self) -> str:
        return load_identity(Layout(self.data_dir).key_file).node_id


def invite(inviter: Home) -> str:
    made = inviter.run("hamlet", "invite", "--address", inviter.url)
    assert made.returncode == 0, made.stderr
    line = made.stdout.strip()
    assert "\n" not in line and line.startswith("hameau-invite-")
    return line


def join(joiner: Home, invitation: str) -> subprocess.CompletedProcess[str]:
    return joiner.run("hamlet", "join", invitation, "--address", joiner.url)


@contextmanager
def hamlet(
    root: Path,
    names: tuple[str, ...] = ("A", "B", "C"),
    pairs: tuple[tuple[str, str], ...] = (("B", "A"), ("C", "A")),
    env: dict[str, dict[str, str]] | None = None,
    netns: dict[str, tuple[str, str]] | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[dict[str, Home]]:
    """Nodes named `names`, each initialised and served, then paired: in each (joiner, inviter)
    of `pairs` the joiner joins with an invitation the inviter made. `env` adds environment
    variables per node name; `netns` serves a node inside a network namespace, at an address
    of it: {name: (namespace, address)}; `settings`, lines of a node's hameau.toml."""
    with ExitStack() as stack:
        found = {}
        for name in names:
            data_dir = root / name.lower()
            if name in (settings or {}):  # its hameau.toml's [node] lines (e.g. database_url)
                data_dir.mkdir(mode=0o700, parents=True)
                (data_dir / "hameau.toml").write_text(f"[node]\n{(settings or {})[name]}\n")
            made = hameau("init", "--name", name, "--data-dir", data_dir)
            assert made.returncode == 0, made.stderr
            given = (env or {}).get(name)
            inside = (netns or {}).get(name)
            host, prefix = (inside[1], ("ip", "netns", "exec", inside[0])) if inside else (None, ())
            served = serve(data_dir, given, free_port(), tls=True, host=host, prefix=prefix)
            found[name] = Home(name, stack.enter_context(served), stack, given)
        for joiner, inviter in pairs:
            done = join(found[joiner], invite(found[inviter]))
            assert done.returncode == 0, done.stderr
            assert f"Paired with {inviter}" in done.stdout
        yield found

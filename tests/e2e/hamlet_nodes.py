"""Real paired nodes for the hamlet's tests: `hameau serve` processes started, named and
paired with the command line (`hamlet invite` / `hamlet join`), as an admin would. Every hamlet
test starts its nodes here, so that how nodes reach each other (addresses, TLS) is decided in
one place."""

from __future__ import annotations

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

    @property
    def url(self) -> str:
        return self.served.url

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
) -> Iterator[dict[str, Home]]:
    """Nodes named `names`, each initialised and served, then paired: in each (joiner, inviter)
    of `pairs` the joiner joins with an invitation the inviter made. `env` adds environment
    variables per node name; `netns` serves a node inside a network namespace, at an address
    of it: {name: (namespace, address)}."""
    with ExitStack() as stack:
        found = {}
        for name in names:
            data_dir = root / name.lower()
            made = hameau("init", "--name", name, "--data-dir", data_dir)
            assert made.returncode == 0, made.stderr
            inside = (netns or {}).get(name)
            host, prefix = (inside[1], ("ip", "netns", "exec", inside[0])) if inside else (None, ())
            served = serve(data_dir, (env or {}).get(name), free_port(), host, prefix)
            found[name] = Home(name, stack.enter_context(served))
        for joiner, inviter in pairs:
            done = join(found[joiner], invite(found[inviter]))
            assert done.returncode == 0, done.stderr
            assert f"Paired with {inviter}" in done.stdout
        yield found

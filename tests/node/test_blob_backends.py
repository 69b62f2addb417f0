"""The blob store is a swappable backend: chosen by a setting, and known only through its
interface (nothing outside `hameau/node/blobs/` reaches into where a backend keeps content)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hameau.config import ConfigError, load_settings
from hameau.node.blobs import BlobStore, load_store
from hameau.node.blobs.local import LocalBlobStore
from tests.helpers import make_node

PACKAGE = Path(__file__).resolve().parents[2] / "hameau"
BACKENDS = PACKAGE / "node" / "blobs"
# What only a backend may know: where its files are and how it puts them there.
INSIDE = {"root", "temp_dir", "quarantine_dir", "path", "place", "sync_dir", "_temp"}
# Not the node's store: a neighbour's restic repository, kept in a folder of its own on this
# disk, is made of local stores (content-addressed, durable writes) by design.
OWN_STORES = {PACKAGE / "backup" / "store.py"}


def _is_store(node: ast.expr) -> bool:
    """`store`, `blobs`, `node.blobs`, `self.store`, `self.context.node.blobs` …"""
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name in ("store", "blobs", "blob_store") or name.endswith("_store")


def reaching_inside(source: str) -> list[str]:
    """`<store>.root` and the like, `layout.blobs`, and imports of a backend's module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            if node.attr in INSIDE and _is_store(node.value):
                found.append(f"line {node.lineno}: .{node.attr} of the blob store")
            if node.attr == "blobs" and getattr(node.value, "attr", "") == "layout":
                found.append(f"line {node.lineno}: layout.blobs (the local backend's folder)")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "hameau.node.blobs."
        ):
            found.append(f"line {node.lineno}: imports {node.module}")
    return found


def test_nothing_outside_the_blob_package_reaches_into_the_store() -> None:
    offenders = {}
    for module in PACKAGE.rglob("*.py"):
        if BACKENDS in module.parents or module == PACKAGE / "node" / "datadir.py":
            continue  # the backends themselves; the data dir, which says where the folder is
        found = reaching_inside(module.read_text())
        if found and module not in OWN_STORES:
            offenders[str(module.relative_to(PACKAGE.parent))] = found
    assert offenders == {}


def test_the_guard_sees_what_it_forbids() -> None:
    """The check above would catch what `travel/apply.py` did before the blob store had an
    interface (a check that sees nothing passes for nothing)."""
    before = "def f(store):\n    return (store.root / MARKER).is_file(), node.blobs.path(d)\n"
    assert len(reaching_inside(before)) == 2
    assert reaching_inside("x = node.layout.blobs\nfrom hameau.node.blobs.local import A\n")
    assert reaching_inside("store.exists(d); node.blobs.info(d); files.root(s, w)\n") == []


def test_the_setting_chooses_the_backend(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node")
    assert isinstance(node.blobs, LocalBlobStore) and isinstance(node.blobs, BlobStore)
    digest = node.blobs.put(b"hello")
    assert node.blobs.size(digest) == 5 and node.blobs.read(digest) == b"hello"
    with pytest.raises(ValueError, match="blob_store must be one of: local, s3://"):
        load_store("floppy", tmp_path / "elsewhere")


def test_an_unknown_backend_is_refused_with_where_it_was_set(tmp_path: Path) -> None:
    (tmp_path / "hameau.toml").write_text('[node]\nblob_store = "floppy"\n')
    with pytest.raises(ConfigError, match="blob_store"):
        load_settings(data_dir=tmp_path)


def test_s3_settings_are_read_and_the_secret_never_shown(tmp_path: Path) -> None:
    (tmp_path / "hameau.toml").write_text(
        '[node]\nblob_store = "s3://bucket/node"\ns3_endpoint = "http://10.0.0.5:8333"\n'
    )
    settings = load_settings(data_dir=tmp_path, environ={"HAMEAU_S3_SECRET_KEY": "hush-hush"})
    assert settings.blob_store == "s3://bucket/node" and settings.s3_secret_key == "hush-hush"
    assert "hush-hush" not in repr(settings)
    (tmp_path / "hameau.toml").write_text('[node]\nblob_store = "s3://"\n')
    with pytest.raises(ConfigError, match="blob_store"):
        load_settings(data_dir=tmp_path)


def test_old_imports_keep_working() -> None:
    from hameau.node.blobs import BlobDamaged
    from hameau.node.blobs import LocalBlobStore as Old

    assert Old is LocalBlobStore and issubclass(BlobDamaged, Exception)


def test_a_node_on_the_local_disk_never_loads_the_s3_client(tmp_path: Path) -> None:
    """obstore is imported only by a node whose `blob_store` names a bucket."""
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from hameau.config import Settings\n"
        "from hameau.node.datadir import init_node\n"
        f"node = init_node(Settings(data_dir=Path({str(tmp_path / 'n')!r})), 'N')\n"
        "digest = node.blobs.put(b'hello')\n"
        "assert node.blobs.read(digest) == b'hello'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'obstore'"
        " or m == 'hameau.node.blobs.s3'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAMEAU_")}
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, check=True, timeout=120)  # fmt: skip
    assert found.stdout.strip() == "[]"

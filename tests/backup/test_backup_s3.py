"""A node whose content is in an S3 store (SeaweedFS) is backed up with its content: the blobs
a target's last snapshot holds are shown to restic as stubs it does not read, the others are
downloaded. Whatever the history (a second backup, a target new to the node, a list that does
not name the target's latest snapshot), every restore gives every content back, hash for
hash (a stub read as content would give zeros); a first backup larger than the spool is made
in rounds; the content goes to the local disk when the admin says so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hameau.backup import key, mirror, restore, service
from hameau.backup.folder import FolderTarget
from hameau.backup.sheet import Sheet
from hameau.config import load_settings
from hameau.node import datadir
from hameau.node.blobs import LocalBlobStore
from hameau.node.datadir import init_node
from tests.seaweed import Cluster

MIB = 1 << 20


def _node_on_s3(root: Path, seaweed: Cluster) -> datadir.Node:
    root.mkdir(mode=0o700, parents=True)
    lines = [f'{name} = "{value}"' for name, value in seaweed.settings(root.name).items()]
    (root / "hameau.toml").write_text("[node]\n" + "\n".join(lines) + "\n")
    return init_node(load_settings(root, {}), "Association")


def _restored(target: str, password: str, into: Path) -> dict[str, str]:
    """A restore of `target` onto the local disk; each content's name → the hash of its bytes."""
    done = restore.restore(target, into, Sheet(password), blobs="local")
    opened = datadir.open_node(load_settings(done.data_dir, {}))
    try:
        store = opened.blobs
        assert isinstance(store, LocalBlobStore)
        held = {digest: store.verify(digest) for digest in store.stored()}
        assert done.contents == len(held)
        return {digest: problem or "sound" for digest, problem in held.items()}
    finally:
        opened.close()


def _snapshots(node: datadir.Node, target: str) -> list[list[str]]:
    with FolderTarget(target).open() as repository:
        found = service._restic(node, repository, target).json(["snapshots"]) or []
    return [snapshot["tags"] for snapshot in found]


def test_content_in_s3_is_backed_up_unread_when_unchanged_and_restored_whole(
    tmp_path: Path, seaweed: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    usb, other = tmp_path / "usb", tmp_path / "usb2"
    usb.mkdir(), other.mkdir()
    node = _node_on_s3(tmp_path / "s3node", seaweed)
    try:
        first = {node.blobs.put(os.urandom(2 * MIB)) for _ in range(3)}
        target = str(usb / "hameau")
        with monkeypatch.context() as small:  # a spool for one blob: the first backup in rounds
            small.setattr(mirror, "SPOOL_BYTES", 3 * MIB)
            assert service.back_up(node, target).outcome == "ok"
        assert _snapshots(node, target) == [["hameau"]]  # the two parts forgotten
        stubs = [p for p in mirror.mirror_folder(node.layout).glob("??/??/*")]
        assert {p.name for p in stubs} == first
        assert all(p.stat().st_blocks == 0 and p.stat().st_size == 2 * MIB for p in stubs)

        late = node.blobs.put(os.urandom(MIB))
        again = service.back_up(node, target)
        assert again.outcome == "ok"
        assert again.bytes_added is not None and again.bytes_added < 3 * MIB  # 6 MiB not read again

        # A target new to the node: no list for it, so nothing is a stub there.
        assert service.back_up(node, str(other / "hameau")).outcome == "ok"
        # A list that names another snapshot than the target's latest: not trusted.
        for listed in (key.folder(node.layout) / mirror.LISTS).glob("*.list"):
            listed.write_text("0123abcd\n" + "\n".join(sorted(first | {late})) + "\n")
        assert service.back_up(node, target).outcome == "ok"
        password = key.key_file(node.layout).read_text().strip()
    finally:
        node.close()
    whole = dict.fromkeys(first | {late}, "sound")
    assert _restored(target, password, tmp_path / "new") == whole
    assert _restored(str(other / "hameau"), password, tmp_path / "new2") == whole

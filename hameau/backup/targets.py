"""A backup target from how a person names it: "peer:NAME" (a paired home that offers space,
hameau/backup/peer_target.py) or anything else, a folder's absolute path."""

from __future__ import annotations

import importlib

from hameau.backup.folder import FolderTarget
from hameau.backup.target import Target
from hameau.errors import BadRequest
from hameau.node.datadir import Node

PEER = "peer:"


def parse(node: Node, spec: str) -> Target:
    spec = spec.strip()
    if spec.startswith(PEER):
        name = spec[len(PEER) :].strip()
        if not name:
            raise BadRequest("Give the paired home's name after peer:, such as peer:maison-b.")
        try:  # imported when used: a folder's backup never loads the hamlet's client
            module = importlib.import_module("hameau.backup.peer_target")
        except ModuleNotFoundError as missing:
            if missing.name != "hameau.backup.peer_target":
                raise
            raise BadRequest(
                "Backups at a neighbour's are not in this version of hameau; back up to a"
                " folder (a USB disk) instead."
            ) from None
        target: Target = module.PeerTarget(node, name)
        return target
    if not spec:
        raise BadRequest("Give a backup target: peer:NAME or a folder's absolute path.")
    return FolderTarget(spec)


def normalize(spec: str) -> str:
    """How a target is stored and named again: "peer:NAME" or the folder's path."""
    spec = spec.strip()
    if spec.startswith(PEER):
        return PEER + spec[len(PEER) :].strip()
    return str(FolderTarget(spec).path) if spec else spec


def configured(node: Node) -> list[str]:
    """The targets the `backup_targets` setting names."""
    return [normalize(each) for each in node.settings.backup_targets.split(",") if each.strip()]

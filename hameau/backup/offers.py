"""The space this node offers paired peers for their backups: offering, listing, withdrawing.

An offer is a quota for one peer's restic repository, served by hameau/backup/store_api.py.
Withdrawing it refuses the peer's new writes (it may still read what it stored, to restore);
the data stays on this node's disk until the admin deletes it explicitly (`delete_data`)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.backup.errors import NoOffer
from hameau.backup.models import BackupOffer
from hameau.errors import BadRequest, Conflict
from hameau.node.db import utcnow

if TYPE_CHECKING:
    from hameau.hamlet.models import HamletPeer
    from hameau.node.datadir import Node

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from "20G", "500M", "1.5T" or a plain number of bytes."""
    found = SIZE.match(text)
    if found is None or float(found.group(1)) <= 0:
        raise BadRequest(
            "A quota is a size such as 20G, 500M or 1T; %(given)s is not one.", given=text
        )
    return int(float(found.group(1)) * UNITS[found.group(2).upper()])


def human(size: int) -> str:
    """A size people read: 20.0 GiB, 512.0 MiB, 12 B."""
    for unit in ("T", "G", "M", "K"):
        if size >= UNITS[unit]:
            return f"{size / UNITS[unit]:.1f} {unit}iB"
    return f"{size} B"


def backups_root(node: Node) -> Path:
    """Where the peers' repositories are, in this node's data directory (not part of this
    node's own backups)."""
    return node.layout.root / "backups"


def folder(node: Node, peer_node_id: str) -> Path:
    """Where a peer's repository lives in this node's data directory (its node_id: base32)."""
    if not re.fullmatch(r"[a-z2-7]{1,40}", peer_node_id):
        raise BadRequest("Not a home server's id: %(id)s.", id=peer_node_id)
    return backups_root(node) / peer_node_id


def used(node: Node, peer_node_id: str) -> int:
    """Bytes the peer's repository takes on this node's disk (its files, as stored)."""
    root = folder(node, peer_node_id)
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def offer_of(db: Session, peer_node_id: str) -> BackupOffer | None:
    return db.scalar(select(BackupOffer).where(BackupOffer.peer_node_id == peer_node_id))


def offer(db: Session, peer: HamletPeer, quota: int) -> BackupOffer:
    """Offer (or offer again, or resize) space to a paired peer."""
    if peer.revoked_at is not None:
        raise Conflict("%(peer)s is no longer paired with this home server.", peer=peer.name)
    found = offer_of(db, peer.node_id)
    if found is None:
        found = BackupOffer(peer_node_id=peer.node_id, quota_bytes=quota)
        db.add(found)
    found.quota_bytes, found.withdrawn_at = quota, None
    db.flush()
    return found


def withdraw(db: Session, peer: HamletPeer) -> BackupOffer:
    """No more writes from this peer; what it stored stays (see `delete_data`)."""
    found = offer_of(db, peer.node_id)
    if found is None or found.withdrawn_at is not None:
        raise NoOffer("This home server offers no backup space to %(peer)s.", peer=peer.name)
    found.withdrawn_at = utcnow()
    return found


def delete_data(node: Node, db: Session, peer: HamletPeer) -> int:
    """Delete a peer's stored backups, once its offer is withdrawn; returns the bytes freed."""
    found = offer_of(db, peer.node_id)
    if found is not None and found.withdrawn_at is None:
        raise Conflict(
            "%(peer)s still has backup space here: withdraw it first with `hameau backup"
            " withdraw %(peer)s`.",
            peer=peer.name,
        )
    root = folder(node, peer.node_id)
    freed = used(node, peer.node_id) if root.is_dir() else 0
    shutil.rmtree(root, ignore_errors=True)
    return freed


@dataclass(frozen=True)
class Offered:
    """One line of `hameau backup offers`."""

    peer: str
    quota: int
    used: int
    withdrawn_at: datetime | None
    last_snapshot_at: datetime | None


def offered(node: Node, db: Session, names: dict[str, str]) -> list[Offered]:
    """Every offer, with the space used; `names`: peer node_id → the name it was paired as."""
    return [
        Offered(
            names.get(each.peer_node_id, each.peer_node_id),
            each.quota_bytes,
            used(node, each.peer_node_id),
            each.withdrawn_at,
            each.last_snapshot_at,
        )
        for each in db.scalars(select(BackupOffer).order_by(BackupOffer.offered_at))
    ]

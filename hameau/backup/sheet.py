"""The recovery sheet: what a household needs after losing its disk, on one page.

The backup password (restic's), the node's identity (its id and its private key, so that a
restored node is the node its peers know), and each backup target (for a neighbour: its name,
address, pinned key and certificate fingerprint, so the new node can reach it before any
pairing). It is printed once at setup, again only when asked for explicitly, and written
into an admin's export; never logged.

The format is text for people and `name: value` lines for `hameau backup restore --sheet`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from hameau.backup import key
from hameau.backup.targets import PEER
from hameau.hamlet import service as hamlet
from hameau.hamlet.errors import PeerNotFound
from hameau.node.datadir import Node

INTRO = """HAMEAU RECOVERY SHEET: {name}
Made {when}. Keep it on paper, or on a device that is not the home server, where the
household can find it. Whoever holds it can read every backup: keep it as you keep a house key.

After losing the home server's disk, on a new disk:
  hameau backup restore --from TARGET --data-dir NEW_DIR --sheet THIS_FILE
where TARGET is one of the targets below (a folder's path, or peer:NAME).
"""
PEER_FIELDS = ("peer-address", "peer-node-id", "peer-public-key", "peer-certificate")


@dataclass
class PeerInfo:
    name: str
    address: str = ""
    node_id: str = ""
    public_key: str = ""
    certificate: str = ""


@dataclass
class Sheet:
    password: str
    node_name: str = ""
    node_id: str = ""
    node_key: str = ""  # the PEM of node.key
    targets: list[str] = field(default_factory=list)
    peers: dict[str, PeerInfo] = field(default_factory=dict)


def gather(node: Node, session: Session, specs: list[str]) -> Sheet:
    sheet = Sheet(key.read_key(node.layout), node.name, node.identity.node_id)
    sheet.node_key = node.layout.key_file.read_text().strip()
    sheet.targets = list(specs)
    for spec in specs:
        if spec.startswith(PEER):
            name = spec[len(PEER) :]
            try:
                peer = hamlet.find(session, name)
            except PeerNotFound:
                sheet.peers[name] = PeerInfo(name)
                continue
            sheet.peers[name] = PeerInfo(
                name, peer.address, peer.node_id, peer.public_key, peer.tls_fingerprint or ""
            )
    return sheet


def render(sheet: Sheet) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [INTRO.format(name=sheet.node_name, when=when)]
    lines += [f"backup-password: {sheet.password}", f"node-name: {sheet.node_name}",
              f"node-id: {sheet.node_id}"]  # fmt: skip
    for spec in sheet.targets:
        lines.append(f"target: {spec}")
        info = sheet.peers.get(spec[len(PEER) :]) if spec.startswith(PEER) else None
        if info is not None:
            values = (info.address, info.node_id, info.public_key, info.certificate)
            lines += [f"  {name}: {value}" for name, value in zip(PEER_FIELDS, values, strict=True)]
    lines += ["node-key:", sheet.node_key, ""]
    return "\n".join(lines)


def _pem(lines: list[str], start: int) -> str:
    block = []
    for line in lines[start:]:
        block.append(line.strip())
        if line.strip().startswith("-----END"):
            break
    return "\n".join(block)


def parse(text: str) -> Sheet:
    """The sheet `render` wrote (perhaps typed again from paper: spaces do not matter)."""
    lines = text.splitlines()
    sheet, current = Sheet(""), None
    for number, line in enumerate(lines):
        name, _, value = line.strip().partition(":")
        value = value.strip()
        if name == "backup-password":
            sheet.password = value
        elif name in ("node-name", "node-id"):
            setattr(sheet, name.replace("-", "_"), value)
        elif name == "target":
            sheet.targets.append(value)
            current = PeerInfo(value[len(PEER) :]) if value.startswith(PEER) else None
            if current is not None:
                sheet.peers[current.name] = current
        elif name in PEER_FIELDS and current is not None:
            setattr(current, name[5:].replace("-", "_"), value)
        elif name == "node-key":
            sheet.node_key = _pem(lines, number + 1)
    return sheet

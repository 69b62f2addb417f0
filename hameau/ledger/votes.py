"""A notary's votes: the one position it signs at each number, kept on disk before its
signature leaves it, so that it never signs two different positions at one number (even
across a crash, a restart or two processes of one home at once).

One file per number, `ledger-votes/<seq>.json`, made complete in a temporary file and then
linked to its name: the link fails if a vote is there already, so the first vote wins and is
never changed. A vote at or below the head is moot (that number is final) and removed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hameau.node.datadir import Node

FIELDS = ("seq", "entry", "signature", "prev_hash", "entry_hash")


def _folder(node: Node) -> Path:
    return node.layout.root / "ledger-votes"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def held(node: Node, seq: int) -> dict[str, Any] | None:
    """The position this notary voted for at `seq`, if it did."""
    return _read(_folder(node) / f"{seq}.json")


def cast(node: Node, position: dict[str, Any]) -> dict[str, Any]:
    """Vote for `position` unless a vote is held at its number; returns the vote held."""
    folder = _folder(node)
    folder.mkdir(mode=0o700, exist_ok=True)
    vote = {name: position[name] for name in FIELDS}
    final = folder / f"{vote['seq']}.json"
    temporary = folder / f".{vote['seq']}.{os.getpid()}.{id(vote)}"
    with open(temporary, "w") as out:
        json.dump(vote, out, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(temporary, final)  # atomic and exclusive: the first vote at a number wins
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return held(node, vote["seq"]) or vote


def pending(node: Node, head: int) -> list[dict[str, Any]]:
    """The votes above `head`: positions this notary signed that are not final here yet.
    Those at or below it are removed (their number is final)."""
    folder = _folder(node)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.json"):
        seq = int(path.stem) if path.stem.isdigit() else 0
        if seq <= head:
            path.unlink(missing_ok=True)
        elif (vote := _read(path)) is not None:
            found.append(vote)
    return sorted(found, key=lambda vote: int(vote["seq"]))

"""A notary's votes, kept on disk before any signature leaves it: for each number, the highest
round it promised (Paxos's "prepare") and the position it accepted, in which round, with the
proposer's signature of that proposal. Safe across a crash, a restart or two processes of one
home at once (a command and the server): every change is made under an exclusive `flock`,
written whole to a temporary file, fsynced and renamed.

One file per number, `ledger-votes/<seq>.json`. A vote at or below the head is moot (that
number is final) and removed. Files of the first version (one position, no round) read as a
vote in round 0. Two different proposals for one number and round, both signed by their
proposer, are kept in `ledger-votes/equivocations.jsonl`: the proof that it equivocated."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hameau.node.datadir import Node

FIELDS = ("seq", "entry", "signature", "prev_hash", "entry_hash")


class Refused(Exception):
    """The vote was not given: `promised` is the round promised; `equivocation` is set when
    the same round's proposer proposed another position already accepted here."""

    def __init__(self, promised: int, equivocation: bool = False) -> None:
        super().__init__(promised)
        self.promised, self.equivocation = promised, equivocation


def _folder(node: Node) -> Path:
    folder = node.layout.root / "ledger-votes"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


@contextmanager
def _flocked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, even on a crash
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def leading(node: Node) -> Iterator[None]:
    """One proposal at a time per home (its server's threads and its commands): a proposer
    proposes one position per number and round."""
    with _flocked(_folder(node) / ".leading"):
        yield


@contextmanager
def submitting(node: Node) -> Iterator[None]:
    """One entry submitted at a time per home: each is signed at its author's next nonce once
    the one before is final here."""
    with _flocked(_folder(node) / ".submitting"):
        yield


def _read(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if "promised" not in found:  # the first version: one position, voted in round 0
        found = {"seq": found["seq"], "promised": 0,
                 "accepted": {"round": 0, "proposal": "", "position": found}}  # fmt: skip
    return found  # type: ignore[no-any-return]


def _write(folder: Path, state: dict[str, Any]) -> None:
    temporary = folder / f".{state['seq']}.{os.getpid()}.tmp"
    with open(temporary, "w") as out:
        json.dump(state, out, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, folder / f"{state['seq']}.json")
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def held(node: Node, seq: int) -> dict[str, Any] | None:
    """This notary's state at `seq`: {"seq", "promised", "accepted": None or {"round",
    "proposal", "position"}}."""
    return _read(_folder(node) / f"{seq}.json")


def promise(node: Node, seq: int, round: int) -> dict[str, Any]:
    """Promise to vote in no round below `round` at `seq`; returns the state (its accepted
    vote, for the proposer). Refused if a higher round was promised."""
    folder = _folder(node)
    with _flocked(folder / ".lock"):
        state = held(node, seq) or {"seq": seq, "promised": 0, "accepted": None}
        if state["promised"] > round:
            raise Refused(state["promised"])
        state["promised"] = round
        _write(folder, state)
    return state


def accept(
    node: Node, position: dict[str, Any], round: int = 0, proposal: str = "", by: str = ""
) -> dict[str, Any]:
    """Vote for `position` in `round` (proposed by `by`, who signed `proposal`); returns the
    position voted. Refused below a round promised, or for a second position in one round."""
    vote = {name: position[name] for name in FIELDS}
    folder = _folder(node)
    with _flocked(folder / ".lock"):
        state = held(node, vote["seq"]) or {"seq": vote["seq"], "promised": 0, "accepted": None}
        if state["promised"] > round:
            raise Refused(state["promised"])
        before = state["accepted"]
        if before is not None and before["round"] == round:
            if before["position"]["entry_hash"] == vote["entry_hash"]:
                return before["position"]  # type: ignore[no-any-return]
            _evidence(folder, vote, round, by, before, proposal)
            raise Refused(state["promised"], equivocation=True)
        state["promised"] = round
        state["accepted"] = {"round": round, "proposal": proposal, "position": vote}
        _write(folder, state)
    return vote


def cast(node: Node, position: dict[str, Any]) -> dict[str, Any]:
    """A vote in round 0 (the first round; a single proposer's): the position voted there."""
    try:
        return accept(node, position)
    except Refused:
        state = held(node, int(position["seq"]))
        assert state is not None and state["accepted"] is not None
        return state["accepted"]["position"]  # type: ignore[no-any-return]


def _evidence(folder: Path, vote: dict, round: int, by: str, before: dict, proposal: str) -> None:
    line = {"seq": vote["seq"], "round": round, "proposer": by,
            "first": {"entry_hash": before["position"]["entry_hash"],
                      "proposal": before["proposal"]},
            "second": {"entry_hash": vote["entry_hash"], "proposal": proposal}}  # fmt: skip
    with open(folder / "equivocations.jsonl", "a") as out:
        out.write(json.dumps(line, sort_keys=True) + "\n")


def pending(node: Node, head: int) -> list[dict[str, Any]]:
    """The positions voted above `head`: signed here, not final here yet. The votes at or
    below it are removed (their number is final)."""
    folder = _folder(node)
    found = []
    for path in folder.glob("*.json"):
        seq = int(path.stem) if path.stem.isdigit() else 0
        if seq <= head:
            path.unlink(missing_ok=True)
        elif (state := _read(path)) is not None and state["accepted"] is not None:
            found.append(state["accepted"]["position"])
    return sorted(found, key=lambda vote: int(vote["seq"]))

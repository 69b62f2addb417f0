"""How two copies of a member's files are reconciled: version vectors, decided per path.

This is the sync engine's rulebook, with no I/O: given what each side holds (a path, its
version vector, its content hash, or a deletion), it says what each side must change so
both hold the same thing and nothing either side wrote is lost. The rules:

- a version that has seen the other (its vector dominates) replaces it;
- two versions made apart (concurrent vectors) with different content: one keeps the path,
  the other is kept beside it as a clearly named conflict copy, on both sides;
- an edit made apart from a delete wins over the delete;
- nothing is ever read as deleted because it is missing: a deletion is an explicit
  tombstone carrying its own vector;
- a file and a folder of the same name (a type change on one side while the other kept a
  file in the folder): the folder keeps the name, the file goes beside it as a conflict copy.

Renames travel as a deletion and a creation; content moves by hash, so a rename sends no byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum

VersionVector = dict[str, int]


class Order(Enum):
    EQUAL = "equal"
    NEWER = "newer"  # the first has seen everything the second has, and more
    OLDER = "older"
    CONCURRENT = "concurrent"


def compare(first: VersionVector, second: VersionVector) -> Order:
    keys = first.keys() | second.keys()
    ahead = any(first.get(key, 0) > second.get(key, 0) for key in keys)
    behind = any(first.get(key, 0) < second.get(key, 0) for key in keys)
    if ahead and behind:
        return Order.CONCURRENT
    if ahead:
        return Order.NEWER
    if behind:
        return Order.OLDER
    return Order.EQUAL


def merged(first: VersionVector, second: VersionVector) -> VersionVector:
    return {key: max(first.get(key, 0), second.get(key, 0)) for key in first.keys() | second.keys()}


def bumped(vector: VersionVector, node: str) -> VersionVector:
    return {**vector, node: vector.get(node, 0) + 1}


@dataclass(frozen=True)
class FileState:
    """One path on one side: its content hash, or None for a deletion (a tombstone)."""

    vector: VersionVector
    blob: str | None

    @property
    def deleted(self) -> bool:
        return self.blob is None


@dataclass
class Outcome:
    """What each side must set, path by path, to agree."""

    local: dict[str, FileState] = field(default_factory=dict)
    remote: dict[str, FileState] = field(default_factory=dict)
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (path, conflict copy path)

    def settle(self, path: str, state: FileState, on_local: bool, on_remote: bool) -> None:
        if on_local:
            self.local[path] = state
        if on_remote:
            self.remote[path] = state


NAME_BYTES = 255  # the longest name a folder holds (files.paths.MAX_NAME_BYTES)


def _cut(text: str, size: int) -> str:
    """The longest start of ``text`` that fits in ``size`` bytes of UTF-8 (whole characters)."""
    return text.encode()[: max(0, size)].decode("utf-8", "ignore")


def conflict_name(
    path: str, side: str, stamp: str, taken: set[str], exists: Callable[[str], bool] | None = None
) -> str:
    """`dir/name (conflit SIDE STAMP).ext`, numbered if that name is taken too (in ``taken``,
    or, asked through ``exists``, anywhere this side's journal knows, tombstones included).
    A name that would pass 255 bytes has its stem shortened (the extension is kept)."""
    folder, slash, name = path.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension.encode()) > NAME_BYTES // 2:
        stem, extension = name, ""
    tail = "." + extension if extension else ""
    number = 1
    while True:
        suffix = f" (conflit {_cut(side, 60)} {stamp}{'' if number == 1 else f' {number}'})"
        room = NAME_BYTES - len(suffix.encode()) - len(tail.encode())
        candidate = f"{folder}{slash}{_cut(stem, room).rstrip()}{suffix}{tail}"
        if candidate not in taken and (exists is None or not exists(candidate)):
            return candidate
        number += 1


def reconcile(
    local: dict[str, FileState],
    remote: dict[str, FileState],
    local_node: str,
    remote_node: str,
    stamp: str,
    label: str | None = None,
    exists: Callable[[str], bool] | None = None,
) -> Outcome:
    """What both sides must change to hold the same files, losing nothing either wrote.

    ``local_node`` is the side that resolves (it bumps vectors it creates); on a conflict
    of two edits, the remote side's version keeps the path and the local one becomes the
    conflict copy, so the same pair of states always resolves the same way. ``label`` names
    the local side in conflict copies (a device name a member recognises; the node id by
    default). ``exists`` says whether a path is known on this side beyond the two views (only
    changed paths are in them), so a conflict copy never lands on an earlier one.
    """
    outcome = Outcome()
    taken = set(local) | set(remote)
    for path in sorted(taken):
        mine, theirs = local.get(path), remote.get(path)
        if mine is None or theirs is None:
            present = mine or theirs
            assert present is not None
            outcome.settle(path, present, on_local=mine is None, on_remote=theirs is None)
            continue
        order = compare(mine.vector, theirs.vector)
        if order is Order.EQUAL:
            continue
        if order is Order.NEWER:
            outcome.settle(path, mine, on_local=False, on_remote=True)
            continue
        if order is Order.OLDER:
            outcome.settle(path, theirs, on_local=True, on_remote=False)
            continue
        both = merged(mine.vector, theirs.vector)
        if mine.blob == theirs.blob:  # same content (or both deleted), reached apart
            outcome.settle(path, replace(mine, vector=both), on_local=True, on_remote=True)
        elif mine.deleted or theirs.deleted:  # an edit beats a delete
            survivor = theirs if mine.deleted else mine
            state = FileState(bumped(both, local_node), survivor.blob)
            outcome.settle(path, state, on_local=True, on_remote=True)
        else:  # two edits: remote keeps the path, local's goes beside it
            copy = conflict_name(path, label or local_node, stamp, taken, exists)
            taken.add(copy)
            outcome.settle(path, FileState(bumped(both, local_node), theirs.blob), True, True)
            outcome.settle(copy, FileState({local_node: 1}, mine.blob), True, True)
            outcome.conflicts.append((path, copy))
    _untangle(
        {**local, **outcome.local}, outcome, local_node, label or local_node, stamp, taken, exists
    )
    return outcome


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def _untangle(
    final: dict[str, FileState],
    outcome: Outcome,
    local_node: str,
    label: str,
    stamp: str,
    taken: set[str],
    exists: Callable[[str], bool] | None,
) -> None:
    """A file where the other side has a folder of the same name (one side replaced one by
    the other, and the other kept or put something in it): the folder keeps the name, the
    file is kept beside it as a conflict copy, so both sides can hold the same tree."""
    folders = {
        parent for path, state in final.items() if not state.deleted for parent in _parents(path)
    }
    for path in sorted(folders):
        state = final.get(path)
        if state is None or state.deleted:
            continue
        copy = conflict_name(path, label, stamp, taken, exists)
        taken.add(copy)
        outcome.settle(path, FileState(bumped(state.vector, local_node), None), True, True)
        outcome.settle(copy, FileState({local_node: 1}, state.blob), True, True)
        outcome.conflicts.append((path, copy))


def apply(side: dict[str, FileState], changes: dict[str, FileState]) -> dict[str, FileState]:
    return {**side, **changes}

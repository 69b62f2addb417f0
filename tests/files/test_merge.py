"""The reconciliation rules, checked on random histories of edits, renames and deletes made
on two sides between syncs (Hypothesis): both sides converge, and no content either side
held is lost — it is current, in a conflict copy, or was replaced by a version that had
seen it (and so sits in that side's earlier versions)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from hameau.errors import BadRequest
from hameau.files import paths
from hameau.files.merge import FileState, Order, bumped, compare, conflict_name, merged, reconcile

PATHS = ["a.txt", "b.txt", "docs/c.md", "docs/d"]
SIDES = {"home": "home", "sat": "satellite"}


def test_version_vectors_order_as_causality() -> None:
    assert compare({"a": 1}, {"a": 1}) is Order.EQUAL
    assert compare({"a": 2}, {"a": 1}) is Order.NEWER
    assert compare({"a": 1}, {"a": 1, "b": 1}) is Order.OLDER
    assert compare({"a": 2}, {"a": 1, "b": 1}) is Order.CONCURRENT
    assert merged({"a": 2}, {"a": 1, "b": 3}) == {"a": 2, "b": 3}
    assert bumped({"a": 2}, "b") == {"a": 2, "b": 1}


def test_conflict_copies_have_clear_unique_names() -> None:
    name = conflict_name("docs/rapport.odt", "satellite", "2026-11-22", set())
    assert name == "docs/rapport (conflit satellite 2026-11-22).odt"
    assert conflict_name("notes", "s", "d", {"notes (conflit s d)"}) == "notes (conflit s d 2)"


def test_an_edit_beats_a_concurrent_delete_and_two_edits_keep_both() -> None:
    base = {"home": 1}
    edited = FileState({"home": 1, "sat": 1}, "new")
    deleted = FileState({"home": 2}, None)
    outcome = reconcile({"f": edited}, {"f": deleted}, "sat", "home", "d")
    assert outcome.local["f"].blob == "new" == outcome.remote["f"].blob
    mine, theirs = FileState(bumped(base, "sat"), "mine"), FileState(bumped(base, "home"), "theirs")
    outcome = reconcile({"f": mine}, {"f": theirs}, "sat", "home", "d")
    assert outcome.local["f"].blob == outcome.remote["f"].blob == "theirs"
    [(_, copy)] = outcome.conflicts
    assert outcome.local[copy].blob == outcome.remote[copy].blob == "mine"


def test_a_conflict_copy_of_a_long_name_fits_in_a_name() -> None:
    """Shortened in its stem, whole characters only, extension kept (a 234-byte name lost
    the satellite's version when its copy's name was refused)."""
    for stem in ("r" * 230, "é" * 115, "写" * 78, "a.b " * 60):
        path = f"Voyage/{stem}.odt"
        copy = conflict_name(path, "portable de Lou", "2026-11-30 09h15", set())
        name = copy.rpartition("/")[2]
        assert paths.check_name(name) == name and len(name.encode()) <= 255
        assert name.endswith(" (conflit portable de Lou 2026-11-30 09h15).odt")
        assert stem.startswith(name.split(" (conflit ")[0].rstrip())
        again = conflict_name(path, "portable de Lou", "2026-11-30 09h15", {copy})
        assert again != copy and len(again.rpartition("/")[2].encode()) <= 255


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=260).filter(lambda t: "/" not in t), st.text(max_size=8))
def test_any_conflict_copy_name_is_a_valid_name(stem: str, extension: str) -> None:
    try:
        name = paths.check_name(f"{stem}.{extension}" if extension else stem)
    except BadRequest:
        return  # not a name any door accepts in the first place
    copy = conflict_name(f"d/{name}", "laptop", "2026-11-30 09h15", set())
    assert copy.startswith("d/") and paths.check_name(copy[2:])


operation = st.tuples(
    st.sampled_from(["home", "sat"]),
    st.sampled_from(["write", "delete", "rename", "sync", "to-file", "to-folder"]),
    st.sampled_from(PATHS),
    st.sampled_from(PATHS),
)


def _fits(files: dict[str, FileState], path: str) -> bool:
    """A file can be written at ``path`` on a side: no folder there, no file above it."""
    alive = {name for name, state in files.items() if not state.deleted}
    above = {"/".join(path.split("/")[:depth]) for depth in range(1, path.count("/") + 1)}
    return not (above & alive) and not any(name.startswith(path + "/") for name in alive)


def _set(files: dict[str, FileState], side: str, path: str, blob: str | None) -> None:
    current = files.get(path)
    files[path] = FileState(bumped(current.vector if current else {}, side), blob)


@settings(max_examples=400, deadline=None)
@given(st.lists(operation, min_size=1, max_size=40))
def test_random_histories_converge_and_lose_nothing(steps: list[tuple[str, str, str, str]]) -> None:
    """Edits, renames, deletes and type changes (the folder `docs` replaced by a file of
    that name, or back) on both sides, with syncs between."""
    sides: dict[str, dict[str, FileState]] = {"home": {}, "sat": {}}
    contents = itertools.count()
    for number, (side, action, path, other) in enumerate([*steps, ("sat", "sync", "", "")]):
        files = sides[side]
        live = files.get(path)
        if action == "write" and _fits(files, path):
            _set(files, side, path, f"c{next(contents)}")
        elif action == "delete" and live and not live.deleted:
            _set(files, side, path, None)
        elif action == "rename" and live and not live.deleted and path != other:
            _set(files, side, path, None)
            if _fits(files, other):
                _set(files, side, other, live.blob)
            else:
                files[path] = live  # no room there: not renamed after all
        elif action == "to-file":  # the folder docs/ and all in it replaced by a file "docs"
            for name in [n for n, s in files.items() if n.startswith("docs/") and not s.deleted]:
                _set(files, side, name, None)
            _set(files, side, "docs", f"c{next(contents)}")
        elif action == "to-folder" and (folder := files.get("docs")) and not folder.deleted:
            _set(files, side, "docs", None)
            _set(
                files, side, path if path.startswith("docs/") else "docs/c.md", f"c{next(contents)}"
            )
        elif action == "sync":
            check_sync(sides, stamp=f"s{number}")


def check_sync(sides: dict[str, dict[str, FileState]], stamp: str) -> None:
    before = {side: dict(files) for side, files in sides.items()}
    outcome = reconcile(sides["sat"], sides["home"], "sat", "home", stamp)
    sides["sat"].update(outcome.local)
    sides["home"].update(outcome.remote)
    # Both sides hold the same thing, a tree (no file where a folder is).
    assert sides["sat"] == sides["home"]
    after = sides["home"]
    current = {state.blob for state in after.values() if not state.deleted}
    for path, state in after.items():
        assert state.deleted or _fits({p: s for p, s in after.items() if p != path}, path), path
    moved = {path for path, _copy in outcome.conflicts if after[path].deleted}
    # Nothing either side held is lost: compared by what each side had *before* the sync.
    for path in before["sat"].keys() | before["home"].keys():
        mine, theirs = before["sat"].get(path), before["home"].get(path)
        if path in moved:  # a file where a folder now is: kept beside it
            assert {s.blob for s in (mine, theirs) if s and not s.deleted} & current, path
            continue
        if mine is None or theirs is None:
            only = mine or theirs
            assert only is not None and after[path] == only
            continue
        order = compare(mine.vector, theirs.vector)
        if order is Order.NEWER:
            assert after[path].blob == mine.blob  # the version that had seen the other wins
        elif order is Order.OLDER:
            assert after[path].blob == theirs.blob
        elif order is Order.CONCURRENT:
            # Made apart: every content survives, at the path or in a conflict copy, and an
            # edit is never undone by a deletion it had not seen.
            for state in (mine, theirs):
                assert state.deleted or state.blob in current, (path, state)
            if not (mine.deleted and theirs.deleted):
                assert not after[path].deleted
    # Syncing again changes nothing.
    again = reconcile(sides["sat"], sides["home"], "sat", "home", stamp + "b")
    assert not again.local and not again.remote

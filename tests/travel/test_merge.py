"""The reconciliation rules, checked on random histories of edits, renames and deletes made
on two sides between syncs (Hypothesis): both sides converge, and no content either side
held is lost — it is current, in a conflict copy, or was replaced by a version that had
seen it (and so sits in that side's earlier versions)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from hameau.travel.merge import FileState, Order, bumped, compare, conflict_name, merged, reconcile

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


operation = st.tuples(
    st.sampled_from(["home", "sat"]),
    st.sampled_from(["write", "delete", "rename", "sync"]),
    st.sampled_from(PATHS),
    st.sampled_from(PATHS),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(operation, min_size=1, max_size=40))
def test_random_histories_converge_and_lose_nothing(steps: list[tuple[str, str, str, str]]) -> None:
    sides: dict[str, dict[str, FileState]] = {"home": {}, "sat": {}}
    contents = itertools.count()
    for number, (side, action, path, other) in enumerate([*steps, ("sat", "sync", "", "")]):
        files = sides[side]
        live = files.get(path)
        if action == "write":
            vector = bumped(live.vector if live else {}, side)
            files[path] = FileState(vector, f"c{next(contents)}")
        elif action == "delete" and live and not live.deleted:
            files[path] = FileState(bumped(live.vector, side), None)
        elif action == "rename" and live and not live.deleted and path != other:
            files[path] = FileState(bumped(live.vector, side), None)
            target = files.get(other)
            files[other] = FileState(bumped(target.vector if target else {}, side), live.blob)
        elif action == "sync":
            check_sync(sides, stamp=f"s{number}")


def check_sync(sides: dict[str, dict[str, FileState]], stamp: str) -> None:
    before = {side: dict(files) for side, files in sides.items()}
    outcome = reconcile(sides["sat"], sides["home"], "sat", "home", stamp)
    sides["sat"].update(outcome.local)
    sides["home"].update(outcome.remote)
    # Both sides hold the same thing.
    assert sides["sat"] == sides["home"]
    after = sides["home"]
    current = {state.blob for state in after.values() if not state.deleted}
    # Nothing either side held is lost: compared by what each side had *before* the sync.
    for path in before["sat"].keys() | before["home"].keys():
        mine, theirs = before["sat"].get(path), before["home"].get(path)
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

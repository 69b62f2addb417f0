"""Sync between a home node and its satellite: the real engine, the real home app."""

from __future__ import annotations

import hashlib
import itertools
import sys
import threading
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hameau import trips
from hameau.accounts import members
from hameau.errors import HameauError
from hameau.node.db import transaction
from hameau.travel import lifecycle, sync
from hameau.travel import satellite as record
from hameau.travel.home import HomeUnreachable, client_for
from tests.helpers import callers, lands_meanwhile, once_after
from tests.travel.sides import delete, home_node, kept, live, pack, rename, write


def test_pack_takes_only_the_chosen_subset(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/plan.txt", b"plan")
    write(home, "Voyage/cartes/nord.txt", b"nord")
    write(home, "Impots/2026.txt", b"private stuff that stays home")
    write(home, "Recettes/soupe.txt", b"soupe", space="household")
    write(home, "Voyage/secret.txt", b"sam's", member="sam")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    assert live(pair.sat) == {"Voyage/plan.txt": b"plan", "Voyage/cartes/nord.txt": b"nord"}
    assert live(pair.sat, "household") == {}
    # The satellite is one of alex's devices, with its own credential.
    saved = record.load(tmp_path / "sat")
    assert saved is not None and saved.token.startswith("hm_") and saved.member == "alex"
    answer = pair.client.get("/api/travel/files/mine/changes")
    assert answer.status_code == 200


def test_edits_on_both_sides_meet_and_a_conflict_keeps_both(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    for name in ("a", "b", "c", "d"):
        write(home, f"Voyage/{name}.txt", f"{name} v1".encode())
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    write(home, "Voyage/a.txt", b"a at home")
    write(pair.sat, "Voyage/a.txt", b"a away")  # both: a conflict
    write(pair.sat, "Voyage/b.txt", b"b away")  # only here
    delete(home, "Voyage/c.txt")  # only at home
    write(pair.sat, "Voyage/new.txt", b"made away")
    report = pair.sync()
    assert report.complete and len(report.conflicts) == 1
    on_home, away = live(home, under="Voyage"), live(pair.sat, under="Voyage")
    assert on_home == away
    assert on_home["Voyage/a.txt"] == b"a at home"
    copy = report.conflicts[0].removeprefix("mine/")
    assert copy.startswith("Voyage/a (conflit laptop ") and copy.endswith(").txt")
    assert on_home[copy] == b"a away"
    assert on_home["Voyage/b.txt"] == b"b away" and on_home["Voyage/new.txt"] == b"made away"
    assert "Voyage/c.txt" not in on_home and b"c v1" in kept(pair.sat)  # in the trash
    # Syncing again finds nothing to do.
    again = pair.sync()
    assert again.pulled == again.pushed == 0 and again.rounds == 1


def test_a_change_committed_while_a_sync_reads_this_side_goes_home_next_time(
    tmp_path: Path,
) -> None:
    """A served satellite syncs by itself while its member writes: a file saved just after
    the sync read this side's changes is not part of that sync, and is sent by the next one
    (the cursor must not step over it)."""
    home = home_node(tmp_path / "home")
    write(home, "Voyage/plan.txt", b"plan")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])

    def reads_changes(sql: str) -> bool:
        return "FROM sync_entries" in sql and "seq >" in sql

    def member_saves() -> None:
        write(pair.sat, "Voyage/carnet.txt", b"on the train")

    with once_after(pair.sat.engine, reads_changes, member_saves) as saved:
        pair.sync()
    assert saved, "the sync never read this side's changes"
    assert pair.sync().complete
    assert live(home, under="Voyage").get("Voyage/carnet.txt") == b"on the train"


@pytest.mark.parametrize("side", ["home", "sat"])
def test_a_write_committed_while_sync_applies_the_other_sides_edit_is_never_replaced(
    tmp_path: Path, side: str
) -> None:
    """The member writes a file on one side just as sync sets there the other side's edit
    of it (after sync compared the path's state, before it wrote): sync must not replace a
    write it did not compare. The member's write stays a live file on both sides, and the
    other side's edit is kept too."""
    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"a v1")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    here, there = (home, pair.sat) if side == "home" else (pair.sat, home)
    write(there, "Voyage/a.txt", b"a, edited on the other side")

    def applying(sql: str) -> bool:
        # Sync's read of the paths' journal rows as it applies (home's endpoint, or the
        # satellite's own apply): the member's write comes right after it, from another
        # thread (another door), given half a second to commit before sync writes.
        return "sync_entries.path IN" in sql and bool(
            {"apply_changes", "_apply_batch"} & callers()[0]
        )

    member_writes = partial(
        lands_meanwhile, write, here, "Voyage/a.txt", b"a, written here meanwhile"
    )
    with once_after(here.engine, applying, member_writes) as written:
        pair.sync()
    assert written, "sync never set the path on this side"
    written[0].join()
    assert pair.sync().complete
    on_home, away = live(home, under="Voyage"), live(pair.sat, under="Voyage")
    assert on_home == away
    # Sync never sets over a write it did not compare; a write after sync's is the member's
    # own (the other side's edit a version before it, as any overwrite keeps one).
    assert b"a, written here meanwhile" in on_home.values()
    assert b"a, edited on the other side" in kept(home) & kept(pair.sat)


def test_an_edit_beats_a_delete_made_apart(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"one")
    write(home, "Voyage/b.txt", b"two")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    delete(home, "Voyage/a.txt")
    write(pair.sat, "Voyage/a.txt", b"one, edited away")
    write(home, "Voyage/b.txt", b"two, edited at home")
    delete(pair.sat, "Voyage/b.txt")
    assert pair.sync().complete
    expected = {"Voyage/a.txt": b"one, edited away", "Voyage/b.txt": b"two, edited at home"}
    assert live(home, under="Voyage") == live(pair.sat, under="Voyage") == expected


def test_a_second_satellite_and_a_repeated_attach_merge(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"start")
    first = pack(home, tmp_path / "sat1", ["files:mine/Voyage"], name="portable")
    second = pack(home, tmp_path / "sat2", ["files:mine/Voyage"], name="tablette")
    write(first.sat, "Voyage/a.txt", b"from the laptop")
    write(second.sat, "Voyage/a.txt", b"from the tablet")
    write(second.sat, "Voyage/t.txt", b"tablet only")
    assert first.sync().complete
    report = second.sync()
    assert [c.split(" (conflit ")[1].split(" ")[0] for c in report.conflicts] == ["tablette"]
    assert first.sync().complete
    assert live(home) == live(first.sat) == live(second.sat)
    contents = set(live(home).values())
    assert {b"from the laptop", b"from the tablet", b"tablet only"} <= contents


def test_home_unreachable_says_so_and_local_work_goes_on(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"a")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    pair.satellite.home = "http://127.0.0.1:9"  # nothing listens there
    with client_for(pair.satellite, timeout=3) as client:
        with pytest.raises(HomeUnreachable, match="cannot be reached"):
            sync.sync(pair.sat, pair.satellite, client, domains=trips.domains())
        write(pair.sat, "Voyage/b.txt", b"written offline")
        found = lifecycle.status(pair.sat, pair.satellite, client)
    assert found.home is None and found.here["mine"] == ["Voyage/b.txt"]
    assert "cannot be reached" in pair.satellite.last_error
    assert live(pair.sat, under="Voyage")["Voyage/b.txt"] == b"written offline"


def test_return_syncs_then_revokes_and_wipes(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"a")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    write(pair.sat, "Voyage/last.txt", b"written on the last day")
    token = pair.satellite.token
    lifecycle.return_home(pair.sat, pair.satellite, pair.peer, trips.domains())
    assert live(home)["Voyage/last.txt"] == b"written on the last day"
    assert not (tmp_path / "sat").exists()
    refused = pair.client.get(
        "/api/travel/files/mine/changes", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 401


def test_notes_merge_by_state_vectors(tmp_path: Path) -> None:
    from hameau.notes import service as notes

    home = home_node(tmp_path / "home")
    with transaction(home.sessions) as session:
        alex = members.find_member(session, "alex")
        shared = notes.create(session, alex, "Liste\n\npain\n")
        doomed = notes.create(session, alex, "À jeter\n")
        kept_note = notes.create(session, alex, "Gardée\n")
        ids = (shared.uid, doomed.uid, kept_note.uid)
    pair = pack(home, tmp_path / "sat", ["notes"])

    def edit(node, uid: str, change) -> None:  # type: ignore[no-untyped-def]
        with transaction(node.sessions) as session:
            who = members.find_member(session, "alex")
            note = notes.by_uid(session, who, uid)
            assert note is not None
            text = notes.text_of(session, note)
            notes.save(session, who, note, notes.revision(session, note), change(text))

    def note_texts(node) -> dict[str, str]:  # type: ignore[no-untyped-def]
        with node.sessions() as session:
            who = members.find_member(session, "alex")
            return {
                n.uid: notes.text_of(session, n)
                for n in notes.all_of(session, who)
                if n.deleted_at is None
            }

    edit(home, ids[0], lambda text: text + "beurre\n")
    edit(pair.sat, ids[0], lambda text: text.replace("Liste", "Liste de courses"))
    with transaction(pair.sat.sessions) as session:  # deleted away, untouched at home: gone
        who = members.find_member(session, "alex")
        notes.delete(session, who, notes.by_uid(session, who, ids[1]))
        notes.create(session, who, "Écrite en voyage\n")
    with transaction(home.sessions) as session:  # deleted at home, edited away: the edit wins
        who = members.find_member(session, "alex")
        notes.delete(session, who, notes.by_uid(session, who, ids[2]))
    edit(pair.sat, ids[2], lambda text: text + "modifiée en voyage\n")
    assert pair.sync().complete
    at_home, away = note_texts(home), note_texts(pair.sat)
    assert at_home == away
    assert at_home[ids[0]] == "Liste de courses\n\npain\nbeurre\n"
    assert ids[1] not in at_home
    assert at_home[ids[2]] == "Gardée\nmodifiée en voyage\n"
    assert "Écrite en voyage\n" in at_home.values()
    assert pair.sync().pushed == 0


def test_calendar_events_merge_per_uid_with_a_conflict_copy(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from hameau.calendar.store import CalendarStore

    home = home_node(tmp_path / "home")
    at_home = CalendarStore(home)
    at_home.ensure("alex")
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    hour = timedelta(hours=1)
    for uid, title in (("u1", "Dentiste"), ("u2", "Marché"), ("u3", "Cinéma")):
        at_home.save_event("alex", "alex/agenda", title, start, start + hour, uid=uid)
    pair = pack(home, tmp_path / "sat", ["calendar:agenda"])
    away = CalendarStore(pair.sat)
    assert {e.summary for e in away.events("alex", start, start + hour)} == {
        "Dentiste",
        "Marché",
        "Cinéma",
    }
    at_home.save_event("alex", "alex/agenda", "Dentiste (10 h)", start, start + hour, uid="u1")
    away.save_event("alex", "alex/agenda", "Dentiste avec Sam", start, start + hour, uid="u1")
    away.save_event("alex", "alex/agenda", "Marché bio", start, start + hour, uid="u2")
    at_home.delete_item("alex", "alex/agenda", "u3")
    away.save_event("alex", "alex/agenda", "Train", start, start + hour, uid="u4")
    report = pair.sync()
    assert report.complete and len(report.conflicts) == 1
    titles = lambda store: sorted(e.summary for e in store.events("alex", start, start + hour))  # noqa: E731
    assert titles(at_home) == titles(away) == [
        "Dentiste (10 h)", "Dentiste avec Sam (conflit laptop)", "Marché bio", "Train",
    ]  # fmt: skip
    again = pair.sync()
    assert again.pulled == again.pushed == 0


def test_a_phones_event_saved_while_home_applies_the_satellites_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phone saves an event at home just as home sets the satellite's edit of it (after
    home compared the event, before it wrote): the phone's text is not replaced unseen; it
    ends on both sides, as the event or its conflict copy."""
    from datetime import UTC, datetime, timedelta

    from hameau.calendar import merge
    from hameau.calendar.store import CalendarStore

    home = home_node(tmp_path / "home")
    at_home = CalendarStore(home)
    at_home.ensure("alex")
    start, hour = datetime(2026, 12, 1, 9, tzinfo=UTC), timedelta(hours=1)
    at_home.save_event("alex", "alex/agenda", "Dentiste", start, start + hour, uid="u1")
    pair = pack(home, tmp_path / "sat", ["calendar:agenda"])
    away = CalendarStore(pair.sat)
    away.save_event("alex", "alex/agenda", "Dentiste avec Sam", start, start + hour, uid="u1")
    phone: list[threading.Thread] = []
    compared = merge.digest

    def digest(text: str) -> str:
        names, files = callers()
        at_home_applying = {"set_if_unchanged"} & names or any("api_calendars" in f for f in files)
        if at_home_applying and not phone:
            title = "Dentiste (phone)"
            phone.append(lands_meanwhile(at_home.save_event, "alex", "alex/agenda", title, start,
                                   start + hour, uid="u1"))  # fmt: skip
        return compared(text)

    monkeypatch.setattr(merge, "digest", digest)
    pair.sync()
    monkeypatch.setattr(merge, "digest", compared)
    assert phone, "home never compared the event"
    phone[0].join()
    assert pair.sync().complete
    titles = lambda store: sorted(e.summary for e in store.events("alex", start, start + hour))  # noqa: E731
    assert titles(at_home) == titles(away)
    assert any(title.startswith("Dentiste (phone)") for title in titles(at_home))
    assert any(title.startswith("Dentiste avec Sam") for title in titles(at_home))


# ---------------------------------------------------------------- the property


PATHS = ["a.txt", "b.txt", "d/c.txt"]
steps = st.lists(
    st.tuples(
        st.sampled_from(["sat", "home"]),
        st.sampled_from(["write", "write", "delete", "rename", "sync", "to-file", "to-folder"]),
        st.sampled_from(PATHS),
        st.sampled_from(PATHS),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(steps=[("sat", "delete", "a.txt", ""), ("home", "write", "a.txt", "")])
@example(  # a second conflict on the same file within the minute once reused the first copy's name
    steps=[("sat", "write", "a.txt", ""), ("home", "write", "a.txt", ""), ("sat", "sync", "", ""),
           ("sat", "write", "a.txt", ""), ("home", "write", "a.txt", "")]
)  # fmt: skip
@example(steps=[("home", "rename", "a.txt", "b.txt"), ("sat", "write", "b.txt", "")])
@example(steps=[("sat", "to-file", "", ""), ("home", "write", "d/c.txt", "")])
@example(steps=[("sat", "to-file", "", ""), ("sat", "sync", "", ""), ("home", "to-folder", "", ""),
                ("sat", "write", "d/c.txt", "")])  # fmt: skip
@example(
    steps=[("sat", "to-file", "", ""), ("sat", "to-folder", "", ""), ("home", "to-file", "", "")]
)
@given(steps=steps)
def test_random_histories_converge_and_lose_nothing(
    tmp_path_factory: pytest.TempPathFactory, steps: list
) -> None:  # type: ignore[type-arg]
    """Random edits, renames and deletes on both sides, with syncs between: after each sync
    both sides hold the same files; a path changed on one side only holds that change; a
    path changed on both keeps every content written (at the path or in a conflict copy),
    an edit beating a deletion; and no content either side held is gone from it."""
    root = tmp_path_factory.mktemp("pair")
    home = home_node(root / "home")
    for name in PATHS:
        write(home, f"Voyage/{name}", f"original {name}".encode())
    pair = pack(home, root / "sat", ["files:mine/Voyage"])
    nodes = {"home": home, "sat": pair.sat}
    counter = itertools.count()
    touched: dict[str, dict[str, bytes | None]] = {"home": {}, "sat": {}}  # since the last sync

    def check_sync() -> None:
        before = {side: live(node, under="Voyage") for side, node in nodes.items()}
        report = pair.sync()
        assert report.complete, report.problems
        after = live(home, under="Voyage")
        assert after == live(pair.sat, under="Voyage")
        current = set(after.values())
        for path in touched["home"].keys() | touched["sat"].keys():
            if path in touched["home"] and path in touched["sat"]:
                written = [
                    c for c in (touched["home"][path], touched["sat"][path]) if c is not None
                ]
                for content in written:  # both kept, and an edit is not undone by a deletion
                    assert content in current, (path, content)
                if written and path not in after:  # only a file beside a folder kept there
                    assert any(
                        copy.startswith(f"mine/{path} (conflit ") for copy in report.conflicts
                    ), path
            else:
                side = "home" if path in touched["home"] else "sat"
                wanted = touched[side][path]
                if after.get(path) != wanted:  # a file where the other side kept a folder
                    assert wanted in current and any(
                        copy.startswith(f"mine/{path} (conflit ") for copy in report.conflicts
                    ), (path, side)
        for side, node in nodes.items():
            assert set(before[side].values()) <= kept(node)
        for side in touched:
            touched[side].clear()

    for side, action, name, other in [*steps, ("sat", "sync", "", "")]:
        node, path = nodes[side], f"Voyage/{name}"
        in_file_d = path.startswith("Voyage/d/") and "Voyage/d" in live(node, under="Voyage")
        if action == "write" and not in_file_d:
            content = (
                f"{side} {next(counter)} {hashlib.sha256(path.encode()).hexdigest()[:6]}".encode()
            )
            write(node, path, content)
            touched[side][path] = content
        elif action == "delete":
            if delete(node, path):
                touched[side][path] = None
        elif action == "rename":
            target = f"Voyage/{other}"
            files_now = live(node, under="Voyage")
            if (
                path in files_now
                and target not in files_now
                and path.rsplit("/", 1)[0] == target.rsplit("/", 1)[0]
            ):
                assert rename(node, path, other.rsplit("/", 1)[-1])
                touched[side][path] = None
                touched[side][target] = files_now[path]
        elif action == "to-file":  # the folder d and all in it replaced by a file "d"
            files_now = live(node, under="Voyage")
            if "Voyage/d" not in files_now:
                delete(node, "Voyage/d")  # the folder, if there is one, with all in it
                touched[side].update(
                    dict.fromkeys(p for p in files_now if p.startswith("Voyage/d/"))
                )
                content = f"{side} {next(counter)} file d".encode()
                write(node, "Voyage/d", content)
                touched[side]["Voyage/d"] = content
        elif action == "to-folder":  # the file "d" replaced by a folder d
            if "Voyage/d" in live(node, under="Voyage"):
                assert delete(node, "Voyage/d")
                content = f"{side} {next(counter)} in folder d".encode()
                write(node, "Voyage/d/c.txt", content)
                touched[side]["Voyage/d"] = None
                touched[side]["Voyage/d/c.txt"] = content
        elif action == "sync":
            check_sync()
    pair.client.close()
    home.close()
    pair.sat.close()


def test_an_unmounted_content_store_is_never_synced_as_empty(tmp_path: Path) -> None:
    from hameau.node.blobs.local import MARKER

    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"precious")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    store = pair.sat.layout.blobs
    assert (store / MARKER).is_file()
    store.rename(tmp_path / "elsewhere")  # the disk holding it is not mounted
    store.mkdir()
    with pytest.raises(HameauError, match="marker file") as refused:
        pair.sync()
    assert refused.value.status == 503
    assert live(home) == {"Voyage/a.txt": b"precious"}
    store.rmdir()
    (tmp_path / "elsewhere").rename(store)  # mounted again: sync goes on
    assert pair.sync().complete


def test_thousands_of_files_each_way_fit_in_the_sync_batches(tmp_path: Path) -> None:
    """More paths and hashes than one form holds go through (the travel API's own limit)."""
    home = home_node(tmp_path / "home")
    for number in range(1500):
        write(home, f"Voyage/{number % 30}/home-{number}.txt", f"home {number}".encode())
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    assert len(live(pair.sat)) == 1500
    for number in range(1200):
        write(pair.sat, f"Voyage/away/{number}.txt", f"away {number}".encode())
    report = pair.sync()
    assert report.complete and report.pushed == 1200
    assert live(home) == live(pair.sat)


def test_a_long_name_edited_on_both_sides_keeps_both_versions(tmp_path: Path) -> None:
    """A 234-byte name: its conflict copy's name is shortened, never refused (which once
    lost the satellite's version, and `return` then wiped the laptop)."""
    name = "é" * 113 + "long.txt"  # 234 bytes
    assert len(name.encode()) == 234
    home = home_node(tmp_path / "home")
    write(home, f"Voyage/{name}", b"v1")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    write(home, f"Voyage/{name}", b"edited at home")
    write(pair.sat, f"Voyage/{name}", b"edited away")
    report = pair.sync()
    assert report.complete, report.problems
    [copy] = report.conflicts
    assert copy.endswith(").txt") and len(copy.rpartition("/")[2].encode()) <= 255
    at_home = live(home, under="Voyage")
    assert at_home == live(pair.sat, under="Voyage")
    assert at_home[f"Voyage/{name}"] == b"edited at home"
    assert at_home[copy.removeprefix("mine/")] == b"edited away"
    lifecycle.return_home(pair.sat, pair.satellite, pair.peer, trips.domains())
    assert b"edited away" in live(home).values()


def _settles(pair, expected: set[bytes]) -> None:  # type: ignore[no-untyped-def]
    """Within two syncs both sides agree, holding every content in ``expected``; nothing
    is left to do, and `return` is not blocked."""
    reports = [pair.sync(), pair.sync()]
    assert reports[-1].complete, [r.problems for r in reports]
    assert reports[-1].pulled == reports[-1].pushed == 0
    at_home = live(pair.home, under="Voyage")
    assert at_home == live(pair.sat, under="Voyage")
    assert expected <= set(at_home.values()), at_home
    lifecycle.return_home(pair.sat, pair.satellite, pair.peer, trips.domains())
    assert expected <= set(live(pair.home, under="Voyage").values())


@pytest.mark.parametrize("side", ["sat", "home"])
@pytest.mark.parametrize("edit_meanwhile", [False, True], ids=["alone", "with-an-edit"])
def test_a_folder_replaced_by_a_file_converges(
    tmp_path: Path, side: str, edit_meanwhile: bool
) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/d/c.txt", b"c, in a folder")
    write(home, "Voyage/keep.txt", b"keep")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    changed, other = (pair.sat, home) if side == "sat" else (home, pair.sat)
    assert delete(changed, "Voyage/d")
    write(changed, "Voyage/d", b"d, now a file")
    expected = {b"d, now a file", b"keep"}
    if edit_meanwhile:
        write(other, "Voyage/d/c.txt", b"c, edited meanwhile")
        expected.add(b"c, edited meanwhile")
    _settles(pair, expected)


@pytest.mark.parametrize("side", ["sat", "home"])
@pytest.mark.parametrize("edit_meanwhile", [False, True], ids=["alone", "with-an-edit"])
def test_a_file_replaced_by_a_folder_converges(
    tmp_path: Path, side: str, edit_meanwhile: bool
) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/f", b"f, a file")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    changed, other = (pair.sat, home) if side == "sat" else (home, pair.sat)
    assert delete(changed, "Voyage/f")
    write(changed, "Voyage/f/x.txt", b"x, in the new folder")
    expected = {b"x, in the new folder"}
    if edit_meanwhile:
        write(other, "Voyage/f", b"f, edited meanwhile")
        expected.add(b"f, edited meanwhile")
    _settles(pair, expected)


def test_the_missing_store_guard_holds_while_the_member_writes(tmp_path: Path) -> None:
    """The content store's disk is not mounted and the served satellite's member writes a
    new file through the API: sync still refuses, and says so in `travel status` and on the
    travel page (one new file once rewrote the marker, and sync went on with emptiness)."""
    import shutil
    import subprocess

    from starlette.testclient import TestClient

    from hameau.accounts import tokens
    from hameau.app import create_app
    from tests.helpers import log_in

    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"precious")
    write(home, "Voyage/b.txt", b"also precious")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    store = pair.sat.layout.blobs
    store.rename(tmp_path / "elsewhere")  # the disk holding it is not mounted
    (store / "tmp").mkdir(parents=True)  # the node, started again, makes its temp folder
    with transaction(pair.sat.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "t")[1]
    served = TestClient(create_app(pair.sat), client=("192.0.2.10", 50000))
    made = served.put(
        "/api/files/mine/Voyage/new.txt",
        content=b"written while the disk was away",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert made.status_code in (200, 201), made.text
    for _attempt in range(2):
        with pytest.raises(HameauError, match="marker file"):
            pair.sync()
    assert live(home, under="Voyage") == {
        "Voyage/a.txt": b"precious",
        "Voyage/b.txt": b"also precious",
    }
    assert "marker file" in str(lifecycle.status(pair.sat, pair.satellite, None).refusal)
    log_in(served, "alex")
    page = served.get("/travel")
    assert "Synchronisation refusée" in page.text and "marqueur" in page.text
    shown = subprocess.run(
        [sys.executable, "-m", "hameau", "travel", "status", "--data-dir", str(tmp_path / "sat")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0 and "Sync refused" in shown.stdout and "marker" in shown.stdout
    # The disk is back (and what was written meanwhile is copied onto it): sync goes on.
    shutil.copytree(store, tmp_path / "elsewhere", dirs_exist_ok=True)
    shutil.rmtree(store)
    (tmp_path / "elsewhere").rename(store)
    assert pair.sync().complete
    assert live(home, under="Voyage")["Voyage/new.txt"] == b"written while the disk was away"


def test_a_file_over_the_quota_holds_back_nothing_else(tmp_path: Path) -> None:
    """Home has no room for one big file written away: the others go home, the problem
    names the file and says why in words, and once there is room, the next sync sends it."""
    import os

    from hameau.accounts.models import Member

    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"a")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    with transaction(home.sessions) as session:
        session.get(Member, members.find_member(session, "alex").id).quota_bytes = 5_000_000
    big = os.urandom(8_000_000)
    write(pair.sat, "Voyage/film.bin", big)
    write(pair.sat, "Voyage/notes.txt", b"small")
    write(pair.sat, "Voyage/z.txt", b"after it")
    report = pair.sync()
    [problem] = report.problems
    assert problem.startswith("mine/Voyage/film.bin: ") and "8.0 MB needed, 5.0 MB left" in problem
    assert "blob" not in problem.lower()
    at_home = live(home, under="Voyage")
    assert at_home["Voyage/notes.txt"] == b"small" and at_home["Voyage/z.txt"] == b"after it"
    assert "Voyage/film.bin" not in at_home
    assert lifecycle.status(pair.sat, pair.satellite, None).here["mine"] == ["Voyage/film.bin"]
    assert not pair.sync().complete  # still no room: still said
    with transaction(home.sessions) as session:
        session.get(Member, members.find_member(session, "alex").id).quota_bytes = 1 << 30
    assert pair.sync().complete
    assert live(home, under="Voyage")["Voyage/film.bin"] == big


def test_a_path_refused_for_its_name_holds_back_nothing_else(tmp_path: Path) -> None:
    """At home, each path is applied on its own: a name no door accepts is refused with a
    sentence, and the paths beside it in the same request are applied."""
    home = home_node(tmp_path / "home")
    write(home, "Voyage/a.txt", b"a")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    content = b"fine content"
    digest = hashlib.sha256(content).hexdigest()
    body = f"{digest} {len(content)}\n".encode() + content
    sent = pair.client.post("/api/travel/blobs/upload", content=body)
    assert sent.status_code == 200 and sent.json()["stored"] == [digest]
    change = {"vector": {"x": 1}, "blob": digest, "size": len(content), "expect": None}
    too_long = "Voyage/" + "n" * 300 + ".txt"
    answer = pair.client.post(
        "/api/travel/files/mine/apply",
        json={"changes": [{**change, "path": too_long}, {**change, "path": "Voyage/ok.txt"}]},
    ).json()
    assert answer["applied"] == ["Voyage/ok.txt"]
    assert "255 bytes" in answer["refused"][too_long]
    assert live(home, under="Voyage")["Voyage/ok.txt"] == content

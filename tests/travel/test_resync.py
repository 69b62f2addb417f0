"""A re-sync of edited files, which both sides record many at a time: every previous content
is kept as a version, as when a member overwrites a file by any other door."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from hameau.files.models import FileEntry, FileVersion
from hameau.files.retention import VERSIONS_KEPT
from hameau.node.datadir import Node
from tests.travel.sides import home_node, kept, live, pack, write


def versions_of(node: Node, name: str) -> int:
    with node.sessions() as session:
        return int(
            session.scalar(
                select(func.count(FileVersion.id))
                .join(FileEntry, FileEntry.id == FileVersion.entry_id)
                .where(FileEntry.name == name, FileEntry.deleted_at.is_(None))
            )
            or 0
        )


def test_edits_of_many_files_each_way_keep_their_previous_versions(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    for number in range(40):
        write(home, f"Voyage/{number % 4}/f{number}.bin", b"first %d" % number)
    write(home, "Voyage/notes.txt", b"a text file, indexed for search")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    for number in range(0, 15):
        write(home, f"Voyage/{number % 4}/f{number}.bin", b"home edit %d" % number)
    for number in range(20, 35):
        write(pair.sat, f"Voyage/{number % 4}/f{number}.bin", b"away edit %d" % number)
    write(home, "Voyage/notes.txt", b"the text file, edited at home")
    report = pair.sync()
    assert report.complete and report.pulled == 16 and report.pushed == 15
    assert live(home) == live(pair.sat)
    assert live(pair.sat)["Voyage/1/f1.bin"] == b"home edit 1"
    assert live(home)["Voyage/1/f21.bin"] == b"away edit 21"
    for number in [*range(0, 15), *range(20, 35)]:
        for node in (home, pair.sat):
            assert b"first %d" % number in kept(node)
    assert pair.sync().pulled == pair.sync().pushed == 0  # nothing left to do


def test_a_file_edited_many_times_keeps_only_its_last_versions(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    write(home, "Voyage/photo.jpg", b"edit 0")
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    for edit in range(1, VERSIONS_KEPT + 4):
        write(home, "Voyage/photo.jpg", b"edit %d" % edit)
        assert pair.sync().pulled == 1
    assert live(pair.sat) == {"Voyage/photo.jpg": b"edit %d" % (VERSIONS_KEPT + 3)}
    assert versions_of(pair.sat, "photo.jpg") == versions_of(home, "photo.jpg") == VERSIONS_KEPT
    assert b"edit %d" % (VERSIONS_KEPT + 2) in kept(pair.sat)
    assert b"edit 2" not in kept(pair.sat)


def test_a_sync_that_only_brings_home_changes_here_takes_one_round(tmp_path: Path) -> None:
    home = home_node(tmp_path / "home")
    for number in range(6):
        write(home, f"Voyage/f{number}.bin", b"first %d" % number)
    pair = pack(home, tmp_path / "sat", ["files:mine/Voyage"])
    for number in range(3):
        write(home, f"Voyage/f{number}.bin", b"home edit %d" % number)
    pulled = pair.sync()
    assert (pulled.pulled, pulled.pushed, pulled.rounds) == (3, 0, 1)
    assert live(pair.sat) == live(home)
    # What home changed after that sync (and what the satellite changed) comes with the next.
    write(home, "Voyage/f4.bin", b"home edit 4")
    write(pair.sat, "Voyage/f5.bin", b"away edit 5")
    both = pair.sync()
    assert (both.pulled, both.pushed, both.rounds) == (1, 1, 2)  # a second round confirms
    assert live(pair.sat) == live(home)
    assert live(home)["Voyage/f5.bin"] == b"away edit 5"
    again = pair.sync()
    assert (again.pulled, again.pushed, again.rounds) == (0, 0, 1)

"""An import in replace mode (`import_member(…, replace=True)`, moving home's way back) makes
the member's environment exactly the archive's: what it lacks goes, part by part, and content
no row refers to any more leaves the disk; content still used stays, and importing again
changes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import func, select

from hameau import export
from hameau.accounts import members
from hameau.files import purge
from hameau.files import service as files
from hameau.files.journal import SyncEntry
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.notes import service as notes
from tests.helpers import add_member, make_node
from tests.test_environment import files_of, furnish, write

GONE = b"\xff\xd8jpeg" * 1000  # photos/plage.jpg: deleted, then the trash emptied


def _archive(node: Node, out: Path) -> Path:
    with node.sessions() as session:
        member_id = members.find_member(session, "alex").id
    export.export_member(node, member_id, out)
    return out


def _journal(node: Node) -> tuple[int, int]:
    """Paths the files journal knows, and its last sequence number (a change moves it)."""
    with node.sessions() as session:
        found = session.execute(select(func.count(SyncEntry.id), func.max(SyncEntry.seq))).one()
        return int(found[0]), int(found[1] or 0)


def test_a_replacing_import_mirrors_the_archive_and_frees_what_it_no_longer_holds(
    tmp_path: Path,
) -> None:
    home, away = make_node(tmp_path / "home"), make_node(tmp_path / "away")
    furnish(home)
    add_member(away, "sam")
    export.import_member(away, _archive(home, tmp_path / "there.zip"))
    with transaction(away.sessions) as session:
        alex = members.find_member(session, "alex")
        mine = files.space(alex, "mine")
        files.trash(session, alex, files.resolve(session, mine, ["photos", "plage.jpg"]))
        purge.empty_trash(session, alex, away.blobs)
        write(away, session, alex, ["lettre.txt"], b"rewritten away")
        (note,) = notes.mine(session, alex)
        notes.delete(session, alex, note)
    back = _archive(away, tmp_path / "back.zip")

    export.import_member(home, back, replace=True)
    assert files_of(home, "alex") == files_of(away, "alex")
    assert not home.blobs.exists(hashlib.sha256(GONE).hexdigest())  # left the disk
    with home.sessions() as session:
        assert notes.mine(session, members.find_member(session, "alex")) == []
    lettre = files_of(home, "alex")["live"]["lettre.txt"]  # type: ignore[index]
    assert lettre[0] == hashlib.sha256(b"rewritten away").hexdigest()
    assert home.blobs.exists(lettre[0])

    before = (files_of(home, "alex"), _journal(home))
    export.import_member(home, back, replace=True)
    assert (files_of(home, "alex"), _journal(home)) == before
    home.close()
    away.close()

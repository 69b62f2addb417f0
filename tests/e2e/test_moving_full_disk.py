"""Moving into a home whose content disk is too small: B's content store is a small tmpfs
(a real disk, mounted apart from its data dir). The offer is refused in words from the room
on the disk the contents go to, the member stays home at A; once B has room, the same
command moves them with every file as it was. (A disk that fills up during a stream:
tests/moving/test_stream.py.) Mounting needs root: elsewhere this test is not run."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from hameau.accounts.models import Member
from tests.e2e.hamlet_nodes import hamlet
from tests.e2e.test_full_disk import leftovers, small_disk
from tests.e2e.test_moving_kills import furnish
from tests.test_environment import files_of, opened

pytestmark = pytest.mark.e2e


def test_a_move_into_a_content_disk_without_room_is_refused_in_words_then_goes_on_with_room(
    tmp_path: Path,
) -> None:
    accept = {"B": {"HAMEAU_MOVING_ACCEPT_FROM": "A"}}
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),), env=accept) as homes:
        a, b = homes["A"], homes["B"]
        node = opened(a.data_dir)
        try:
            furnish(node, "alex", random.Random(7))  # about 9 MB
            before = files_of(node, "alex")
        finally:
            node.close()
        with small_disk(b.data_dir / "blobs", "8m") as store:
            b.restart()  # its content store is now the small disk (the data dir's is large)
            refused = a.run("move", "alex", "--to", "B")
            said = refused.stdout + refused.stderr
            assert refused.returncode != 0, said
            assert len(said.strip().splitlines()) == 1, said
            assert "MB free" in said or "Mo libres" in said, said
            assert leftovers(store) == []
            node = opened(a.data_dir)
            try:
                assert files_of(node, "alex") == before  # still home at A, not frozen
                with node.sessions() as session:
                    alex = session.query(Member).filter_by(name="alex").one()
                    assert alex.moved_to is None and alex.frozen_at is None
            finally:
                node.close()
            grown = subprocess.run(
                ["mount", "-o", "remount,size=128m", str(store)], capture_output=True, text=True
            )
            assert grown.returncode == 0, grown.stderr
            done = a.run("move", "alex", "--to", "B")
            assert done.returncode == 0, done.stdout + done.stderr
            node = opened(b.data_dir)
            try:
                assert files_of(node, "alex") == before
            finally:
                node.close()

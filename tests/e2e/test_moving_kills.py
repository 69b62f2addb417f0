"""The issue's trials: a move from A to B is killed (SIGKILL) at a random moment, on either
side, then run again until it ends: each time there is exactly one home, nothing frozen, and
every file the member had is at that home with the same content hash.

HAMEAU_MOVE_TRIALS sets how many (the issue asks for 200; the default keeps the test near
four minutes on a small machine); HAMEAU_MOVE_SEED replays a run. Killing A is killing the
process that runs `hameau move` on A's data dir (the sender's side of a move runs there, not
in A's server); killing B is killing B's server, then serving it again."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from hameau.accounts.models import Member
from hameau.files import service as files
from hameau.moving.models import Move
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.helpers import add_member
from tests.test_environment import files_of, opened, write

TRIALS = int(os.environ.get("HAMEAU_MOVE_TRIALS", "25"))
SEED = int(os.environ.get("HAMEAU_MOVE_SEED", str(random.randrange(1 << 30))))


def furnish(node: Node, name: str, rng: random.Random) -> None:
    """A member with small files, one spanning several pieces, a version and a trashed file."""
    add_member(node, name)
    with transaction(node.sessions) as session:
        member = session.query(Member).filter_by(name=name).one()
        files.make_folder(session, member, files.space(member, "mine"), ["photos"])
        for number in range(rng.randrange(5, 40)):
            write(node, session, member, [f"f{number}.txt"], rng.randbytes(rng.randrange(1, 5000)))
        write(node, session, member, ["big.bin"], rng.randbytes(9 << 20))
        write(node, session, member, ["f0.txt"], b"second version")
        files.trash(session, member, write(node, session, member, ["old.txt"], rng.randbytes(99)))


def homes_of(roots: dict[str, Path], name: str) -> dict[str, tuple[str | None, object]]:
    found = {}
    for where, root in roots.items():
        node = opened(root)
        try:
            with node.sessions() as session:
                member = session.query(Member).filter_by(name=name).one_or_none()
                if member is not None:
                    found[where] = (member.moved_to, member.frozen_at)
        finally:
            node.close()
    return found


def state_of(root: Path, name: str) -> str:
    """Where the sender's move was when it was cut ("none": not recorded yet)."""
    node = opened(root)
    try:
        with node.sessions() as session:
            found = session.scalars(select(Move.state).where(Move.member_name == name)).first()
            return found or "none"
    finally:
        node.close()


def move(a: Home, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hameau", "move", name, "--to", "B", "--data-dir", str(a.data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def recorded(a: Home, name: str, running: subprocess.Popen[str]) -> float:
    """Wait until the sender has recorded the move (its command started), so that the cut
    falls in the move itself, not in Python's start; returns when."""
    while running.poll() is None and state_of(a.data_dir, name) == "none":
        time.sleep(0.02)
    return time.monotonic()


def kill_at_random(a: Home, b: Home, name: str, rng: random.Random, span: float) -> str:
    """Start the move, SIGKILL one side at a random moment of it; returns which."""
    running = move(a, name)
    victim = rng.choice("AB")
    recorded(a, name, running)
    time.sleep(rng.uniform(0, span))
    if victim == "A":
        running.send_signal(signal.SIGKILL)
        running.wait()
    else:
        b.served.process.send_signal(signal.SIGKILL)
        b.served.process.wait()
        running.wait(timeout=120)
        b.restart()
    return victim


def measured(a: Home, name: str) -> float:
    """How long a move lasts once recorded, uncut (the span the cuts are drawn from)."""
    running = move(a, name)
    since = recorded(a, name, running)
    said = running.communicate(timeout=300)[0]
    assert running.returncode == 0, said
    return time.monotonic() - since


def finish(a: Home, name: str) -> str:
    """Run the move again until it ends (a restarted side may still be coming up)."""
    said = ""
    for _attempt in range(6):
        again = a.run("move", name, "--to", "B")
        said += again.stdout + again.stderr
        if again.returncode == 0:
            return said
        time.sleep(1)
    raise AssertionError(f"the move did not end: {said}")


@pytest.mark.skipif(TRIALS < 1, reason="HAMEAU_MOVE_TRIALS is 0")
def test_a_move_killed_anywhere_ends_with_one_home_and_everything_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(SEED)
    # Streams of 1 MB: a member's small files and their large one go in two or three
    # streams, so that cuts also fall while the next stream is sent and the one before is
    # made durable at the receiver (two in flight).
    monkeypatch.setenv("HAMEAU_MOVE_STREAM_MB", "1")
    print(f"HAMEAU_MOVE_SEED={SEED} HAMEAU_MOVE_TRIALS={TRIALS}")
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),),
                env={"B": {"HAMEAU_MOVING_ACCEPT_FROM": "*"}}) as homes:  # fmt: skip
        a, b = homes["A"], homes["B"]
        roots = {"A": a.data_dir, "B": b.data_dir}
        started, killed = time.monotonic(), {}
        node = opened(a.data_dir)
        try:
            furnish(node, "uncut", rng)
        finally:
            node.close()
        span = measured(a, "uncut") * 1.2
        for trial in range(TRIALS):
            name = f"m{trial}"
            node = opened(a.data_dir)
            try:
                furnish(node, name, rng)
                before = files_of(node, name)
            finally:
                node.close()
            victim = kill_at_random(a, b, name, rng, span)
            state = state_of(a.data_dir, name)
            killed[f"{victim}:{state}"] = killed.get(f"{victim}:{state}", 0) + 1
            # Cuts after the end test little: the span follows how long moves last now.
            span *= 0.8 if state == "done" else 1.1
            said = finish(a, name)
            found = homes_of(roots, name)
            home = [where for where, (moved_to, _) in found.items() if moved_to is None]
            assert len(home) == 1, (trial, victim, found, said)
            assert all(frozen is None for _, frozen in found.values()), (trial, victim, found)
            node = opened(roots[home[0]])
            try:
                assert files_of(node, name) == before, (trial, victim, said)
            finally:
                node.close()
        elapsed = time.monotonic() - started
        print(
            f"{TRIALS} trials in {elapsed:.0f} s ({elapsed / TRIALS:.1f} s each), span {span:.1f} s"
        )
        print("killed (side: the sender's state then):", dict(sorted(killed.items())))

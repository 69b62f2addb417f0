"""A member writes through WebDAV while they move: each write is either refused in clear words
(503 while frozen, a redirect once moved) and not acknowledged, or acknowledged and present at
the new home with its content."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx

from hameau.accounts import members, tokens
from hameau.files import service as files
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.e2e.hamlet_nodes import hamlet
from tests.helpers import add_member
from tests.test_environment import files_of, opened, write


def app_password(node: Node, name: str) -> str:
    add_member(node, name)
    with transaction(node.sessions) as session:
        member = members.find_member(session, name)
        files.make_folder(session, member, files.space(member, "mine"), ["photos"])
        for number in range(20):
            write(node, session, member, [f"before-{number}.txt"], f"before {number}".encode())
        write(node, session, member, ["big.bin"], b"x" * (12 << 20))
        return tokens.create_token(session, member, "davfs2")[1]


def test_writes_during_the_final_phase_are_refused_or_arrive(tmp_path: Path) -> None:
    rule = {"B": {"HAMEAU_MOVING_ACCEPT_FROM": "A"}}
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),), env=rule) as homes:
        a, b = homes["A"], homes["B"]
        node = opened(a.data_dir)
        try:
            secret = app_password(node, "wren")
        finally:
            node.close()
        acknowledged: dict[str, bytes] = {}
        refused: list[int] = []
        moving = subprocess.Popen(
            [sys.executable, "-m", "hameau", "move", "wren", "--to", "B", "--data-dir",
             str(a.data_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

        def writer() -> None:
            with httpx.Client(auth=("wren", secret), verify=a.verify, timeout=30) as client:
                number = 0
                while moving.poll() is None or number < 5:
                    body = f"during {number}".encode()
                    answer = client.put(f"{a.url}/dav/files/mine/during-{number}.txt", content=body)
                    if answer.status_code in (201, 204):
                        acknowledged[f"during-{number}.txt"] = body
                    else:
                        refused.append(answer.status_code)
                    number += 1

        thread = threading.Thread(target=writer)
        thread.start()
        said = moving.communicate(timeout=300)[0]
        thread.join(timeout=120)
        assert moving.returncode == 0 and "wren moved to B" in said, said
        assert refused and all(code in (503, 307, 308) for code in refused), refused
        target = opened(b.data_dir)
        try:
            live = files_of(target, "wren")["live"]
            for path, body in acknowledged.items():
                assert path in live, path  # type: ignore[operator]
                assert target.blobs.read(live[path][0]) == body  # type: ignore[index]
        finally:
            target.close()

"""A purge whose process is killed before its transaction ends (SIGKILL, a power cut), on a
node served by several processes on PostgreSQL: its rows come back with the rollback, and its
content, set aside, is put back by another process (files.purge.put_back_cut_short), never
while a purge of any process is still in flight."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from hameau.config import load_settings
from hameau.files import purge
from hameau.node.datadir import open_node
from tests.helpers import add_member, make_node
from tests.pg import name_in_settings
from tests.travel.sides import live, write

PURGE_AND_WAIT = """
import sys
from hameau.config import load_settings
from hameau.files import purge
from hameau.node.datadir import open_node

node = open_node(load_settings(sys.argv[1]))
with node.sessions() as session:
    purge.purge_owner(session, int(sys.argv[2]), node.blobs)
    print("set aside", flush=True)
    sys.stdin.read()  # never committed: killed here
"""


def test_a_killed_purge_is_put_back_by_another_process(pg_url: str, tmp_path: Path) -> None:
    root = tmp_path / "node"
    made = make_node(root, **name_in_settings(root, pg_url))
    alex = add_member(made, "alex")
    write(made, "Photos/plage.jpg", b"the only copy", member="alex")
    made.close()
    node = open_node(load_settings(root))
    purging = subprocess.Popen(
        [sys.executable, "-c", PURGE_AND_WAIT, str(root), str(alex)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert purging.stdout is not None and purging.stdout.readline() == "set aside\n"
        assert purge.put_back_cut_short(node) == 0  # in flight: the purge decides
        purging.send_signal(signal.SIGKILL)
        purging.wait()
        # PostgreSQL ends the killed process's session (and its lock) once it notices the
        # connection closed: a moment later on a busy machine. Until then the purge is
        # still in flight for it, and nothing is put back.
        deadline, put_back = time.monotonic() + 30, 0
        while not put_back and time.monotonic() < deadline:
            put_back = purge.put_back_cut_short(node)
            time.sleep(0 if put_back else 0.1)
        assert put_back == 1
        assert live(node, member="alex") == {"Photos/plage.jpg": b"the only copy"}
    finally:
        purging.kill()
        purging.wait()
        node.close()

"""llama.cpp's own server as the node's AI runtime: started as a child process when a model is
first asked for, answering several requests at once, reachable only through the node, stopped
when idle, and gone with the node even when the node is killed."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from hameau.accounts import members, tokens
from hameau.ai import build
from hameau.node.db import transaction
from tests.e2e.served import Served, serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e
MODEL = "gemma-3-270m"


def eventually(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{check.__name__} did not happen in {seconds} s")
        time.sleep(0.2)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def server_of(served: Served) -> int | None:
    try:
        said = json.loads((served.data_dir / "models" / ".loaded.json").read_text())
    except OSError:
        return None
    return said.get("server_pid")  # type: ignore[no-any-return]


def test_llama_server_is_a_child_started_on_demand_answering_at_once_and_stopped(
    tmp_path: Path,
) -> None:
    assert build.find_binary(), "llama-server is missing: run `make llama-server`"
    root = tmp_path / "node"
    made = make_node(root)
    add_member(made, "alex")
    with transaction(made.sessions) as session:
        key = tokens.create_token(session, members.find_member(session, "alex"), "ai")[1]
    made.close()
    env = {"HAMEAU_AI_RUNTIME": "llama-server", "HAMEAU_AI_PARALLEL": "4",
           "HAMEAU_AI_QUEUE": "3", "HAMEAU_AI_MAX_TOKENS": "16", "HAMEAU_AI_IDLE_SECONDS": "3"}  # fmt: skip
    with serve(root, env=env) as served:
        ai = openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0, timeout=120)

        def ask(number: int) -> int:
            try:
                ai.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"Say {number}."}]
                )
            except openai.APIStatusError as error:
                return error.status_code
            return 200

        assert server_of(served) is None  # nothing runs before the AI is asked
        assert ask(0) == 200
        pid = server_of(served)
        assert pid is not None and alive(pid)
        command = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
        assert Path(command[0]).name == "llama-server"
        socket = Path(command[command.index("--host") + 1])  # a Unix socket, no TCP port
        assert socket.suffix == ".sock" and stat.S_IMODE(socket.parent.stat().st_mode) == 0o700
        parent = Path(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0]
        assert int(parent) == served.process.pid

        # 4 slots answering and 3 waiting: 7 requests at once are all answered.
        with concurrent.futures.ThreadPoolExecutor(max_workers=7) as pool:
            assert list(pool.map(ask, range(7))) == [200] * 7

        def stopped_when_idle() -> bool:
            return not alive(pid) and server_of(served) is None

        eventually(stopped_when_idle)
        assert [m.model_extra["loaded"] for m in ai.models.list().data] == [False]

        assert ask(1) == 200  # started again on demand
        again = server_of(served)
        assert again is not None and again != pid and alive(again)
        os.kill(served.process.pid, signal.SIGKILL)

        def gone_with_the_node() -> bool:
            return not alive(again)

        eventually(gone_with_the_node, 20)

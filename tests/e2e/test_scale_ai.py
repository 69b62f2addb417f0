"""The AI of a node served by two `hameau serve` processes on PostgreSQL, both pointed at ONE
real llama-server (llama.cpp's own server, started here on a TCP port with the default model,
as an association runs its AI server: `ai_backend_url`, docs/scale.md): a question posted
to one process is answered through the other, each question is in its member's history
once whichever process answered, and questions sent to both at once are all answered."""

from __future__ import annotations

import concurrent.futures
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hameau.accounts import members
from hameau.ai import build, catalog
from hameau.ai.models import AIQuery
from hameau.node.db import transaction
from tests.e2e.served import Served, free_port, login_cookie, serve
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e
SLOTS = 2  # the shared server's: fewer than the questions sent at once, so some wait there
STREAM = re.compile(r'sse-connect="(/ai/answers/[^"]+)"')


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-server on a loopback port with the default model: its OpenAI-compatible URL."""
    binary = build.find_binary()
    assert binary, "llama-server is missing: run `make llama-server`"
    package = __import__(catalog.PACKAGE)
    model = package.assemble(tmp_path_factory.mktemp("model") / package.MODEL_NAME)
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
             "--alias", catalog.DEFAULT, "--parallel", str(SLOTS), "-c", str(1024 * SLOTS),
             "-t", "2", "--no-webui"],
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _until_healthy(f"http://127.0.0.1:{port}", server, log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        server.wait(timeout=20)


def _until_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, f"llama-server exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                if answer.status == 200:  # 503 while the model loads
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"llama-server not ready in 120 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def processes(
    tmp_path_factory: pytest.TempPathFactory, pg_cluster: Any, llama_server: str
) -> Iterator[tuple[list[Served], Path]]:
    """Two processes of one node on PostgreSQL, both sending questions to the one server."""
    url = pg_cluster.new_database("scale_ai")
    root = tmp_path_factory.mktemp("scale_ai") / "node"
    made = make_node(root, database_url=url, ai_backend_url=llama_server)
    for name in ("sam", "alex"):
        add_member(made, name)
    made.close()
    (root / "hameau.toml").write_text(
        f'[node]\ndatabase_url = "{url}"\nai_backend_url = "{llama_server}"\n'
    )
    env = {"HAMEAU_AI_MAX_TOKENS": "12"}
    with serve(root, env=env) as one, serve(root, env=env) as other:
        yield [one, other], root
    pg_cluster.drop(url)


def page_of(url: str, name: str) -> httpx.Client:
    cookie = login_cookie(url, name, PASSWORD)
    return httpx.Client(base_url=url, cookies={"hameau_session": cookie}, timeout=300)


def post_question(member: httpx.Client, question: str) -> str:
    """The AI page's form, as htmx posts it: the path of the answer's stream."""
    token = member.get("/ai").text.split('"X-CSRF-Token": "')[1].split('"')[0]
    posted = member.post("/ai", data={"question": question},
                         headers={"HX-Request": "true", "X-CSRF-Token": token})  # fmt: skip
    assert posted.status_code == 200, posted.text
    found = STREAM.search(posted.text)
    assert found, posted.text
    return found.group(1)


def answer_of(member: httpx.Client, stream: str) -> tuple[str, str]:
    """The answer's text and the status line, read from the stream to its end."""
    events = member.get(stream).text
    pieces = re.findall(r"event: piece\ndata: (.*)\n", events)
    status = re.search(r"event: status\ndata: (.*)\n", events)
    assert status, events
    return "".join(pieces), status.group(1)


def logged(root: Path, name: str) -> list[str]:
    """The questions in a member's history, as the database keeps them."""
    from hameau.config import load_settings
    from hameau.node.datadir import open_node

    node = open_node(load_settings(root, {}))
    try:
        with transaction(node.sessions) as session:
            member = members.find_member(session, name)
            mine = select(AIQuery.question).where(AIQuery.member_id == member.id)
            return list(session.scalars(mine))
    finally:
        node.close()


def test_a_question_asked_on_one_process_is_answered_and_logged_once_through_the_other(
    processes: tuple[list[Served], Path],
) -> None:
    (one, other), root = processes
    with page_of(one.url, "sam") as on_one, page_of(other.url, "sam") as on_other:
        stream = post_question(on_one, "Qui garde les clés du local ?")
        text, status = answer_of(on_other, stream)  # the answer, served by the other process
        assert text.strip(), status
        assert "mWh" in status, status  # what it cost: the answer was written to its end
        again = answer_of(on_one, stream)[1]  # once: the first process does not answer it too
        assert "expir" in again, again
        for page in (on_one, on_other):  # the history, the same whichever process shows it
            history = page.get("/ai/history").text
            assert history.count("Qui garde les clés du local ?") == 1, history
        status_lines = {_status_line(page.get("/ai").text) for page in (on_one, on_other)}
        assert len(status_lines) == 1, status_lines  # the AI page says the same on both
    assert logged(root, "sam") == ["Qui garde les clés du local ?"]


def _status_line(page: str) -> str:
    """The AI page's line under the form: the model, where it runs, what was sent outside."""
    found = re.search(r'<p><a href="/ai/history">.*?</p>', page, re.S)
    assert found, page
    return found.group(0)


def test_questions_sent_to_both_processes_at_once_are_all_answered_once(
    processes: tuple[list[Served], Path],
) -> None:
    (one, other), root = processes
    questions = [f"Question {number} : quel jour est la réunion ?" for number in range(6)]
    clients = {url: page_of(url, "alex") for url in (one.url, other.url)}

    def ask_and_read(number: int) -> tuple[str, str]:
        asked_on = clients[(one.url, other.url)[number % 2]]  # posted to each in turn
        read_on = clients[(one.url, other.url)[number // 2 % 2]]  # streamed by either
        return answer_of(read_on, post_question(asked_on, questions[number]))

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(questions)) as pool:
            answers = list(pool.map(ask_and_read, range(len(questions))))
    finally:
        for client in clients.values():
            client.close()
    for text, status in answers:  # more at once than the server's slots: all answered
        assert text.strip() and "mWh" in status, status
    assert sorted(logged(root, "alex")) == sorted(questions)

"""Visits from another home on a node served by two processes (docs/scale.md): B's two
`hameau serve --tls` processes share one PostgreSQL database; A, the visitor's home, is paired
with B. Each step of a visit (the code flow: B's picker, A's sign-in form, B's callback, the
relayed pages, logout) and of a terminal's device sign-in (the code, the polls of the waiting
page, the visit it opens) is answered by the other process of B than the step before, as a
load balancer may send them: the requests carry the node's one address (Host), as behind
Caddy, while each goes to one process's port."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from hameau.node.datadir import Layout
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.served import Served, free_port, serve
from tests.e2e.test_hamlet_visit_device import answer_at_home
from tests.e2e.test_hamlet_visit_terminal import SECRET_FILE, TERMINAL, _api, _cli
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:EdDSA is deprecated")]
pytest.importorskip("joserfc", reason="not run: joserfc (with Authlib) is not installed")

FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
OFF = {"HAMEAU_HAMLET_ANNOUNCE": "off"}  # one announcer at most; none needed here


class Terminal:
    """B's hall terminal's browser: one cookie jar; each request to the next process of B in
    turn, with the node's address as Host."""

    def __init__(self, b: Home, processes: list[Served]) -> None:
        self.address = urlsplit(b.url).netloc
        self.turns = cycle(processes)
        self.answered: list[str] = []  # the port of each process that answered, in order
        self.client = httpx.Client(
            verify=b.verify, timeout=30, headers={"Accept-Language": "fr", "Host": self.address}
        )

    def __call__(self, method: str, path: str, **options: Any) -> httpx.Response:
        process = next(self.turns)
        self.answered.append(urlsplit(process.url).port or 0)
        return self.client.request(method, process.url + path, **options)

    def close(self) -> None:
        self.client.close()


def _form(page: str, action: str) -> tuple[str, dict[str, str]]:
    """The csrf token and the buttons' values (by their text) of the page's form to `action`."""
    form = page.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]
    buttons = re.findall(r'<button type="submit" name="home" value="(\d+)">([^<]+)</button>', form)
    found = FIELD.search(form)
    assert found is not None, page
    return found.group(1), {text: value for value, text in buttons}


def _ended_at_home(a: Home) -> list[bool]:
    with sqlite3.connect(Layout(a.data_dir).database) as db:
        return [ended is not None for (ended,) in db.execute("SELECT ended_at FROM hamlet_visits")]


@pytest.fixture
def homes(tmp_path: Path, pg_url: str) -> Iterator[tuple[Home, Home, list[Served]]]:
    """A (SQLite) and B (PostgreSQL, two processes) paired; Ada, a member of A, with a file;
    B's hall terminal enrolled."""
    settings = {"B": f'database_url = "{pg_url}"'}
    env = {"A": OFF, "B": OFF}
    with hamlet(tmp_path, ("A", "B"), (("B", "A"),), env=env, settings=settings) as found:
        a, b = found["A"], found["B"]
        _cli(a, "member", "add", "ada", "--display-name", "Ada", "--password-stdin", stdin=PASSWORD)
        token = _cli(a, "token", "create", "ada", "--label", "test").strip().splitlines()[-1]
        _api(a, token, "PUT", f"/api/files/mine/{SECRET_FILE}", b"radis, fenouil\n")
        _cli(b, "device", "add", TERMINAL, "--kind", "terminal", "--shared")
        other = b.stack.enter_context(serve(b.data_dir, OFF, free_port(), tls=True))
        yield a, b, [b.served, other]


@pytest.fixture
def terminal(homes: tuple[Home, Home, list[Served]]) -> Iterator[Terminal]:
    _, b, processes = homes
    made = Terminal(b, processes)
    link = _cli(b, "device", "enrol-link", TERMINAL, "--url", b.url).strip()
    page = made("GET", urlsplit(link).path + "?" + urlsplit(link).query)
    assert page.status_code == 200, page.text
    token, code = FIELD.search(page.text), re.search(r'name="code" value="([^"]+)"', page.text)
    assert token is not None and code is not None, page.text
    form = {"csrf_token": token.group(1), "code": code.group(1)}
    enrolled = made("POST", "/devices/enrol", data=form)
    assert enrolled.status_code in (200, 303), enrolled.text
    assert "hameau_device" in made.client.cookies
    yield made
    made.close()


def test_a_visit_goes_on_whichever_process_of_the_node_answers(
    homes: tuple[Home, Home, list[Served]], terminal: Terminal
) -> None:
    a = homes[0]
    picker = terminal("GET", "/visit")
    assert picker.status_code == 200, picker.text
    token, buttons = _form(picker.text, "/visit/start")
    asked = terminal("POST", "/visit/start", data={"csrf_token": token, "home": buttons["A"]})
    assert asked.status_code == 303, asked.text
    at_home = asked.headers["location"]
    assert at_home.startswith(a.url + "/hamlet/visit/authorize")

    with httpx.Client(verify=a.verify, timeout=30) as browser:  # at A: Ada's own password
        form = browser.get(at_home)
        found = FIELD.search(form.text)
        assert found is not None, form.text
        sent = browser.post(
            at_home, data={"csrf_token": found.group(1), "name": "ada", "password": PASSWORD}
        )
    assert sent.status_code == 302, sent.text
    back = urlsplit(sent.headers["location"])
    assert back.netloc == terminal.address and back.path == "/visit/callback"
    begun = terminal("GET", f"{back.path}?{back.query}")  # the other process than the start's
    assert begun.status_code == 303, begun.text
    assert "hameau_visit" in terminal.client.cookies

    for _ in range(2):  # her files from A, through each process's relay
        files = terminal("GET", "/files/mine/")
        assert files.status_code == 200 and SECRET_FILE in files.text, files.text
    assert _ended_at_home(a) == [False]
    page = terminal("GET", "/files/mine/")
    logout = re.search(r'<form [^>]*id="logout"[^>]*>.*?</form>', page.text, re.S)
    assert logout is not None, page.text
    found = FIELD.search(logout.group(0))
    assert found is not None
    action = re.search(r'action="([^"]+)"', logout.group(0))
    assert action is not None
    left = terminal("POST", action.group(1), data={"csrf_token": found.group(1)})
    assert left.status_code in (200, 303), left.text
    assert _ended_at_home(a) == [True]  # over at A too
    again = terminal("GET", "/files/mine/")
    assert again.status_code in (302, 303) and "/login" in again.headers["location"]
    assert len(set(terminal.answered)) == 2


def test_a_device_sign_in_is_polled_and_opens_whichever_process_answers(
    homes: tuple[Home, Home, list[Served]], terminal: Terminal
) -> None:
    a, _, _ = homes
    picker = terminal("GET", "/visit")
    token, _ = _form(picker.text, "/visit/device")
    home = re.search(r'action="/visit/device".*?name="home" value="(\d+)"', picker.text, re.S)
    assert home is not None
    started = terminal("POST", "/visit/device", data={"csrf_token": token, "home": home.group(1)})
    assert started.status_code == 303, started.text
    waiting = terminal("GET", "/visit/device")  # the other process than the one that asked A
    assert waiting.status_code == 200, waiting.text
    code = re.search(r'class="user-code">([A-Z]{4}-[A-Z]{4})<', waiting.text)
    assert code is not None, waiting.text
    for _ in range(3):  # the page asks again, each time another process: still waiting
        part = terminal("GET", "/visit/device", headers={"HX-Request": "true"})
        assert part.status_code == 200 and code.group(1) in part.text, part.text

    assert "Accepté" in answer_at_home(a, code.group(1), "approve", name="ada").text
    deadline = time.monotonic() + 60  # A's interval (5 s) between two polls of A
    while True:
        part = terminal("GET", "/visit/device", headers={"HX-Request": "true"})
        assert part.status_code == 200, part.text
        if part.headers.get("hx-redirect") == "/" or time.monotonic() > deadline:
            break
        assert code.group(1) in part.text  # not yet polled: the code still shown
        time.sleep(1)
    assert part.headers.get("hx-redirect") == "/", part.text
    assert "hameau_visit" in terminal.client.cookies
    for _ in range(2):
        files = terminal("GET", "/files/mine/")
        assert files.status_code == 200 and SECRET_FILE in files.text, files.text
    assert _ended_at_home(a) == [False]
    assert len(set(terminal.answered)) == 2

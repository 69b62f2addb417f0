"""A visit on another home's shared terminal, in a real headless Chromium, across two real
paired nodes (`hameau serve` processes): A is the visitor's home, B the home whose kitchen
terminal they use. From B's "who is it?" picker to A's own sign-in form, back on B with the
visitor's own files from A (relayed by B), an upload through B landing at A, then logout:
nothing left in the browser and the visit over at A. Also: a visit ended from home, a home
that hangs (504) or is killed (502) mid-visit, a forged sign-in answer, and B's members and
the visitor kept apart."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hameau.node.datadir import Layout
from tests.e2e import served
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.test_shared_device import Recorder, history, persistent
from tests.helpers import PASSWORD

pytestmark = pytest.mark.e2e
pytest.importorskip("joserfc", reason="not run: joserfc (with Authlib) is not installed")

TERMINAL = "Terminal du hall"
SECRET_FILE = "plan-du-potager.txt"
UPLOADED = "graines-rares.txt"
NAMES = ("plan-du-potager", "graines-rares", "potager", "Ada")


def _cli(home: Home, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hameau", *args, "--data-dir", str(home.data_dir)],
        input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _api(home: Home, token: str, method: str, path: str, body: bytes | None = None) -> Any:
    asked = urllib.request.Request(
        home.url + path, data=body, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(asked, timeout=20, context=home.verify) as answer:
        return json.loads(answer.read() or b"null")


def _files_at_home(home: Home, token: str) -> dict[str, int]:
    """Name: size of every file of Ada's at A."""
    listed = _api(home, token, "GET", "/api/files/mine/")["entries"]
    return {entry["name"]: entry["size"] for entry in listed}


def _visits_at_home(home: Home) -> list[tuple[str | None, str]]:
    """(ended_at, device label) of every visit A recorded."""
    with sqlite3.connect(Layout(home.data_dir).database) as db:
        return list(db.execute("SELECT ended_at, device_label FROM hamlet_visits"))


@pytest.fixture
def homes(tmp_path: Path) -> Iterator[tuple[Home, Home, str]]:
    """A and B paired; Ada, a member of A, with a file; Bea, a member of B; B's terminal."""
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),)) as found:
        a, b = found["A"], found["B"]
        _cli(a, "member", "add", "ada", "--display-name", "Ada", "--password-stdin", stdin=PASSWORD)
        token = _cli(a, "token", "create", "ada", "--label", "test").strip().splitlines()[-1]
        _api(a, token, "PUT", f"/api/files/mine/{SECRET_FILE}", b"radis, fenouil\n")
        _cli(b, "member", "add", "bea", "--display-name", "Bea", "--password-stdin", stdin=PASSWORD)
        _cli(b, "device", "add", TERMINAL, "--kind", "terminal", "--shared")
        yield a, b, token


def me(page: Any) -> str:
    """Who the page's browser is at B, asked by the page itself (its cookies, its trust)."""
    return str(page.evaluate("fetch('/api/me').then(answer => answer.json())")["name"])


@pytest.fixture
def trusting(browser: Any, homes: tuple[Home, Home, str]) -> Iterator[Any]:
    """Chromium trusting both homes' own certificates."""
    a, b, _ = homes
    with served.chromium_trusting(browser, (a.served.cert, b.served.cert)) as launched:  # type: ignore[arg-type]
        yield launched


def enrol_terminal(page: Any, b: Home) -> str:
    link = _cli(b, "device", "enrol-link", TERMINAL, "--url", b.url).strip()
    page.goto(link)
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Qui est-ce ?"
    return next(c["value"] for c in page.context.cookies() if c["name"] == "hameau_device")


def visit(page: Any, a: Home, b: Home) -> None:
    """From B's picker to A's sign-in form and back on B, as Ada."""
    page.goto(b.url + "/login")
    page.click("text=Je viens d’une autre maison")
    assert page.locator("h1").inner_text() == "Visite depuis une autre maison"
    page.click("ul.people button:has-text('A')")
    page.wait_for_url(a.url + "/hamlet/visit/authorize**")
    asked = {name: values[0] for name, values in parse_qs(urlsplit(page.url).query).items()}
    assert asked["client_id"] == b.node_id and asked["scope"] == "openid"
    assert asked["redirect_uri"] == b.url + "/visit/callback"
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["device"] == TERMINAL and asked["state"] != asked["nonce"]
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(b.url + "/")


def log_out(page: Any, b: Home) -> None:
    page.click("form#logout button")
    page.wait_for_url(b.url + "/login")
    assert page.locator("h1").inner_text() == "Qui est-ce ?"


def test_a_visit_from_the_picker_to_logout_leaves_nothing_on_the_terminal(
    tmp_path: Path, trusting: Any, homes: tuple[Home, Home, str]
) -> None:
    a, b, token = homes
    upload = tmp_path / UPLOADED
    # 3 MiB: past what the relay spools in memory (file content waits on disk, signed by digest)
    upload.write_bytes("tomates noires de Crimée\n".encode() * ((3 << 20) // 26 + 1))
    profile = tmp_path / "profile"
    seen = Recorder()
    context = seen.watch(persistent(trusting, profile, (a.served.cert, b.served.cert)))  # type: ignore[arg-type]
    page = context.pages[0] if context.pages else context.new_page()
    device_secret = enrol_terminal(page, b)
    visit(page, a, b)

    # On B's address, Ada's own files from A, under a title that names none of them.
    page.goto(b.url + "/files/mine/")
    assert page.locator(f"a:has-text('{SECRET_FILE}')").count() == 1
    assert page.title() == "A"
    assert me(page) == "ada"
    page.set_input_files("#upload input[type=file]", str(upload))
    page.click("#upload button[type=submit]")
    page.wait_for_url("**done=uploaded")
    assert _files_at_home(a, token)[UPLOADED] == upload.stat().st_size  # it landed at A, whole
    assert [ended for ended, _ in _visits_at_home(a)] == [None]
    assert _visits_at_home(a)[0][1] == TERMINAL

    log_out(page, b)
    assert [c["name"] for c in context.cookies()] == ["hameau_device"]
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("async () => (await caches.keys()).length") == 0
    assert all(ended is not None for ended, _ in _visits_at_home(a))  # over at A too
    page.goto(b.url + "/files/mine/")  # B's own page again: no one is logged in
    assert page.url.startswith(b.url + "/login")
    context.close()

    visited = history(profile)
    assert any(url.startswith(b.url + "/files/") for url, _ in visited)
    for title in [title for _, title in visited] + seen.titles:
        assert not any(name in title for name in NAMES), title
    for url in [url for url, _ in visited] + seen.urls:
        assert device_secret not in url and PASSWORD.replace(" ", "+") not in url
        assert not any(name in url for name in NAMES[:3]), url


def test_a_visit_ended_from_home_ends_on_the_terminal(
    trusting: Any, homes: tuple[Home, Home, str]
) -> None:
    a, b, _ = homes
    terminal = trusting.new_context(locale="fr-FR")
    page = terminal.new_page()
    enrol_terminal(page, b)
    visit(page, a, b)
    assert me(page) == "ada"

    # Ada, on her own phone at home, ends the visit from her sessions page.
    phone = trusting.new_context(locale="fr-FR")
    own = phone.new_page()
    own.goto(a.url + "/login")
    own.fill("input[name=name]", "ada")
    own.fill("input[name=password]", PASSWORD)
    own.click("button[type=submit]")
    own.goto(a.url + "/account/sessions")
    own.click("form[action^='/account/visits/'] button")  # "End this visit"
    own.wait_for_selector("form[action^='/account/visits/']", state="detached")
    phone.close()

    answer = page.goto(b.url + "/files/mine/")
    assert answer is not None and answer.status == 401
    assert "Votre visite a été terminée depuis votre maison" in page.locator("main").inner_text()
    assert [c["name"] for c in terminal.cookies()] == ["hameau_device"]
    page.click("text=Retour à « Qui est-ce ? »")
    assert page.locator("h1").inner_text() == "Qui est-ce ?"
    terminal.close()


def test_a_home_that_hangs_or_cannot_be_reached_is_said_in_words(
    trusting: Any, homes: tuple[Home, Home, str]
) -> None:
    a, b, _ = homes
    terminal = trusting.new_context(locale="fr-FR")
    page = terminal.new_page()
    enrol_terminal(page, b)
    visit(page, a, b)
    a.served.process.send_signal(signal.SIGSTOP)  # A hangs: it takes the connection, no answer
    try:
        answer = page.goto(b.url + "/files/mine/")
    finally:
        a.served.process.send_signal(signal.SIGCONT)
    assert answer is not None and answer.status == 504
    assert "n’a pas répondu à temps" in page.locator("main").inner_text()
    a.served.process.send_signal(signal.SIGKILL)
    a.served.process.wait()
    answer = page.goto(b.url + "/files/mine/")
    assert answer is not None and answer.status == 502
    assert "ne peut pas être jointe" in page.locator("main").inner_text()
    # The visitor can still leave: the terminal forgets the visit even with A gone.
    page.click("button:has-text('Terminer la visite')")
    page.wait_for_url(b.url + "/login")
    assert [c["name"] for c in terminal.cookies()] == ["hameau_device"]
    # The next visitor from A is told here, before leaving for a page that would not load.
    page.click("text=Je viens d’une autre maison")
    page.click("ul.people button:has-text('A')")
    assert page.url == b.url + "/visit/start"
    assert "Votre maison A ne peut pas être jointe d’ici" in page.locator("main").inner_text()
    terminal.close()


def test_a_forged_or_mismatched_sign_in_answer_is_refused(
    trusting: Any, homes: tuple[Home, Home, str]
) -> None:
    a, b, _ = homes
    # Playwright's route.fetch below runs outside Chromium, without its trusted keys.
    terminal = trusting.new_context(locale="fr-FR", ignore_https_errors=True)
    page = terminal.new_page()
    enrol_terminal(page, b)
    answer = page.goto(b.url + "/visit/callback?code=forged&state=forged")
    assert answer is not None and answer.status == 400
    assert "pas été commencée sur cet appareil" in page.locator("main").inner_text()
    # A real sign-in at A, whose answer comes back with another state: refused too.
    page.goto(b.url + "/visit")
    page.click("ul.people button:has-text('A')")
    page.wait_for_url(a.url + "/hamlet/visit/authorize**")
    held: list[str] = []  # A's answer, held back on its way to B

    def hold(route: Any) -> None:
        answered = route.fetch(max_redirects=0)
        held.append(answered.headers["location"])
        route.fulfill(status=200, body="held")

    page.route(lambda url: "/hamlet/visit/authorize" in url, hold)
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=held")
    page.unroute_all()
    assert held[0].startswith(b.url + "/visit/callback?")
    answer = page.goto(held[0].replace("state=", "state=x"))
    assert answer is not None and answer.status == 400
    assert "ne correspond pas" in page.locator("main").inner_text()
    assert "hameau_visit" not in [c["name"] for c in terminal.cookies()]
    terminal.close()


def test_members_of_the_terminals_home_and_a_visitor_never_see_each_other(
    trusting: Any, homes: tuple[Home, Home, str]
) -> None:
    a, b, _ = homes
    terminal = trusting.new_context(locale="fr-FR")
    page = terminal.new_page()
    enrol_terminal(page, b)
    visit(page, a, b)
    # Bea, a member of B, on her own browser at B.
    own = trusting.new_context(locale="fr-FR")
    bea = own.new_page()
    bea.goto(b.url + "/login")
    bea.fill("input[name=name]", "bea")
    bea.fill("input[name=password]", PASSWORD)
    bea.click("button[type=submit]")
    assert me(bea) == "bea"
    assert "hameau_visit" not in [c["name"] for c in own.cookies()]
    # The visitor's every page is A's, as Ada; nothing of B's members, no B session.
    assert me(page) == "ada"
    page.goto(b.url + "/files/mine/")
    assert page.locator(f"a:has-text('{SECRET_FILE}')").count() == 1
    assert "hameau_session" not in [c["name"] for c in terminal.cookies()]
    bea.goto(b.url + "/files/mine/")
    assert SECRET_FILE not in bea.content()
    own.close()
    terminal.close()

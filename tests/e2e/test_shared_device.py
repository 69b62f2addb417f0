"""A shared device keeps its promise, in a real headless Chromium against `hameau serve`:
it stays a shared device after logout and a browser restart, keeps nothing of a member in
the browser's history, never shows its credential in an address, logs out when idle
without losing what was being written, and is never taken from its browser silently."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.served import CHROMIUM, Served, chromium_args, serve
from tests.e2e.test_browser import enrol_link, household
from tests.helpers import PASSWORD

pytestmark = pytest.mark.e2e

NOTE_TITLE = "Cadeau pour Sam"
FILE_NAME = "liste-surprise.txt"
SUBJECT = "Anniversaire secret"
IDLE_MINUTES = "0.5"  # 30 s: the warning comes 10 s ahead


class Recorder:
    """Every address the browser asked for, and the title of every page it showed."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.titles: list[str] = []

    def watch(self, context: Any) -> Any:
        context.on("request", lambda request: self.urls.append(request.url))
        context.on("page", self._page)
        for page in context.pages:
            self._page(page)
        return context

    def _page(self, page: Any) -> None:
        page.on("load", lambda: self.titles.append(page.title()))


def persistent(browser: Any, profile: Path, trust: tuple[Path, ...] = ()) -> Any:
    """A browser with a profile on disk, as a kitchen terminal's is: closing it is a restart.
    `trust`: certificates (PEM) whose key it accepts (served.chromium_args)."""
    return browser.browser_type.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=chromium_args(trust),
        locale="fr-FR",
    )  # fmt: skip


def history(profile: Path) -> list[tuple[str, str]]:
    """The addresses and titles Chromium wrote in the profile's history."""
    copy = profile.parent / "History.copy"
    shutil.copy(profile / "Default" / "History", copy)
    with sqlite3.connect(copy) as db:
        return [(url, title) for url, title in db.execute("SELECT url, title FROM urls")]


def switch_person(page: Any) -> None:
    """The header's button: drafts are saved first, then the page leaves for the picker."""
    page.click("header button:has-text('Changer de personne')")
    page.wait_for_url("**/login")
    assert page.locator("h1").inner_text() == "Qui est-ce ?"


def log_in_as(page: Any, display: str) -> None:
    page.click(f"ul.people button:has-text('{display}')")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == f"Bonjour, {display}"


def enrol_here(page: Any, root: Path, node: Served) -> str:
    page.goto(enrol_link(root, node.url))
    page.click("button[type=submit]")  # « Inscrire »
    assert page.locator("h1").inner_text() == "Qui est-ce ?"
    return next(c["value"] for c in page.context.cookies() if c["name"] == "hameau_device")


def leave_traces(page: Any, node: Served, upload: Path) -> None:
    """What a member does in a few minutes: a note, a file, a message."""
    page.goto(node.url + "/notes")
    page.click("button:has-text('Nouvelle note')")
    page.fill("textarea[name=text]", f"# {NOTE_TITLE}\n\nun vélo rouge")
    page.wait_for_function("() => document.getElementById('status').textContent === 'Enregistré.'")
    page.reload()
    page.goto(node.url + "/files/mine/")
    page.set_input_files("#upload input[type=file]", str(upload))
    page.click("#upload button[type=submit]")
    page.wait_for_url("**done=uploaded")
    page.click(f"a:has-text('{FILE_NAME}')")
    page.goto(node.url + "/messages")
    page.check("input[name=to][value=sam]")
    page.fill("input[name=subject]", SUBJECT)
    page.fill("textarea[name=body]", "Samedi, chut.")
    page.click("form[action='/messages'] button[type=submit]")
    page.wait_for_url("**/messages/*")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Path, Served]]:
    root = household(tmp_path / "home")
    with serve(root, env={"HAMEAU_SHARED_IDLE_MINUTES": IDLE_MINUTES}) as node:
        yield root, node


def test_a_shared_device_stays_one_and_keeps_nothing_of_a_member(
    tmp_path: Path, browser: Any, home: tuple[Path, Served]
) -> None:
    root, node = home
    upload = tmp_path / FILE_NAME
    upload.write_text("un vélo rouge\n")
    profile = tmp_path / "profile"
    seen = Recorder()
    context = seen.watch(persistent(browser, profile))
    page = context.pages[0] if context.pages else context.new_page()
    secret = enrol_here(page, root, node)
    log_in_as(page, "Alex")
    leave_traces(page, node, upload)
    switch_person(page)
    # The member's session is gone; the device cookie, which holds no member data, stays.
    assert [c["name"] for c in context.cookies()] == ["hameau_device"]
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    context.close()

    # The browser restarts (or someone opens the node's bookmark): still the shared device.
    context = seen.watch(persistent(browser, profile))
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(node.url)
    assert page.locator("h1").inner_text() == "Qui est-ce ?"
    log_in_as(page, "Sam")
    session = next(c for c in context.cookies() if c["name"] == "hameau_session")
    assert session["expires"] == -1  # ends with the browser, not in 30 days
    mine = page.request.get(node.url + "/api/sessions").json()
    assert [(login["device"], login["shared"]) for login in mine] == [
        ("Terminal de la cuisine", True)
    ]
    assert page.locator("header button").inner_text() == "Changer de personne"
    assert page.locator("script[src*='/static/idle.js']").count() == 1
    switch_person(page)
    context.close()

    visited = history(profile)
    assert any(url.startswith(node.url + "/notes/") for url, _ in visited)
    secrets_of_alex = (NOTE_TITLE, FILE_NAME, SUBJECT)
    for title in [title for _, title in visited] + seen.titles:
        assert not any(word in title for word in secrets_of_alex), title
    for url in [url for url, _ in visited] + seen.urls:
        assert secret not in url
        assert "device=" not in url and "member=" not in url  # nor who used the device
    # Nor anywhere else in the profile: form history (autofill), caches, the session to restore.
    for path in profile.rglob("*"):
        if path.is_file():
            held = path.read_bytes()
            for word in (*secrets_of_alex, "Samedi, chut."):
                for form in (word.encode(), word.encode("utf-16-le")):
                    assert form not in held, (word, path.relative_to(profile))


def test_idle_logout_warns_lets_the_member_stay_and_keeps_the_draft(
    browser: Any, home: tuple[Path, Served]
) -> None:
    root, node = home
    seen = Recorder()
    context = seen.watch(browser.new_context(locale="fr-FR"))
    page = context.new_page()
    secret = enrol_here(page, root, node)
    log_in_as(page, "Alex")
    page.goto(node.url + "/messages")
    page.check("input[name=to][value=sam]")
    page.fill("input[name=subject]", "Courses")
    page.fill("textarea[name=body]", "Du pain ?")
    page.click("form[action='/messages'] button[type=submit]")
    page.wait_for_url("**/messages/*")
    thread = page.url

    # Typing for longer than the idle time keeps the member in.
    reply = page.locator("#reply textarea")
    for letter in "Et aussi des œufs, du lait":
        reply.press_sequentially(letter)
        page.wait_for_timeout(1500)
    assert page.url == thread and reply.input_value() == "Et aussi des œufs, du lait"
    assert page.request.get(node.url + "/api/me").json()["name"] == "alex"

    # Left alone, the page warns; "stay" keeps the session.
    warning = page.locator("#idle-warning")
    warning.wait_for(state="visible", timeout=60_000)
    page.click("#idle-stay")
    warning.wait_for(state="hidden")
    assert page.url == thread

    # Left alone again: warned, then logged out, with the reply kept on the node.
    warning.wait_for(state="visible", timeout=60_000)
    page.wait_for_url("**/login", timeout=60_000)
    assert page.locator("h1").inner_text() == "Qui est-ce ?"
    assert [c["name"] for c in context.cookies()] == ["hameau_device"]
    log_in_as(page, "Alex")
    page.goto(thread)
    assert page.locator("#draft-kept").count() == 1
    assert page.locator("#reply textarea").input_value() == "Et aussi des œufs, du lait"
    page.fill("#reply textarea", "Et aussi des œufs.")
    page.click("#reply button[type=submit]")
    page.wait_for_selector("#messages li:has-text('Et aussi des œufs.')")
    page.goto(thread)
    assert page.locator("#draft-kept").count() == 0
    assert all(secret not in url for url in seen.urls)
    context.close()


def test_a_note_being_typed_is_saved_before_logging_out(
    browser: Any, home: tuple[Path, Served]
) -> None:
    """Logging out right after typing, before the editor's own autosave: the page saves first
    (idle logout leaves through the same path, see the test above)."""
    root, node = home
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    enrol_here(page, root, node)
    log_in_as(page, "Alex")
    page.goto(node.url + "/notes")
    page.click("button:has-text('Nouvelle note')")
    note = page.url
    page.locator("textarea[name=text]").press_sequentially("# Semis\n\nradis")
    switch_person(page)
    log_in_as(page, "Alex")
    page.goto(note)
    assert page.locator("textarea[name=text]").input_value() == "# Semis\n\nradis"
    context.close()


def test_leaving_from_one_tab_saves_and_closes_the_others(
    browser: Any, home: tuple[Path, Served]
) -> None:
    root, node = home
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    enrol_here(page, root, node)
    log_in_as(page, "Alex")
    page.goto(node.url + "/messages")
    page.fill("input[name=subject]", "Vélo")
    page.fill("textarea[name=body]", "Tu me le prêtes samedi ?")
    other = context.new_page()
    other.goto(node.url + "/notes")
    switch_person(other)
    # The first tab saved what was being written, then left too: nothing of Alex stays on screen.
    page.wait_for_url("**/login")
    assert page.locator("h1").inner_text() == "Qui est-ce ?"
    log_in_as(page, "Alex")
    page.goto(node.url + "/messages")
    assert page.locator("input[name=subject]").input_value() == "Vélo"
    assert page.locator("textarea[name=body]").input_value() == "Tu me le prêtes samedi ?"
    context.close()


def test_enrolling_a_second_browser_under_the_same_name_asks_first(
    browser: Any, home: tuple[Path, Served]
) -> None:
    root, node = home
    first = browser.new_context(locale="fr-FR")
    kitchen = first.new_page()
    enrol_here(kitchen, root, node)
    second = browser.new_context(locale="fr-FR")
    other = second.new_page()
    other.goto(enrol_link(root, node.url))
    question = other.locator("#replace-question")
    assert "déjà inscrit" in question.inner_text()
    kitchen.goto(node.url + "/login")
    assert kitchen.locator("h1").inner_text() == "Qui est-ce ?"  # not un-enrolled by asking
    other.click("#replace-question button[type=submit]")
    assert other.locator("h1").inner_text() == "Qui est-ce ?"
    kitchen.goto(node.url + "/login")
    kitchen.goto(node.url + "/login")  # told once that it is no longer the device
    assert kitchen.locator("h1").inner_text() == "Se connecter"
    first.close()
    second.close()


FOLDER = "Cadeaux secrets"
QUERY = "vélo"
# Each name as it would appear in an address, raw or percent-encoded, and the query.
NAMES_IN_ADDRESSES = (
    "Cadeaux", "liste-surprise", "liste-cachee", "v%C3%A9lo", "vélo", "q=",
)  # fmt: skip


def downloads(profile: Path) -> list[str]:
    """The addresses Chromium recorded for downloads (they are in the History database too)."""
    copy = profile.parent / "History.downloads"
    shutil.copy(profile / "Default" / "History", copy)
    with sqlite3.connect(copy) as db:
        return [url for (url,) in db.execute("SELECT url FROM downloads_url_chains")]


def test_files_and_search_on_a_shared_device_leave_no_name_in_any_address(
    tmp_path: Path, browser: Any
) -> None:
    root = household(tmp_path / "home")
    upload = tmp_path / FILE_NAME
    upload.write_text("un vélo rouge\n")
    profile = tmp_path / "profile"
    seen = Recorder()
    with serve(root) as node:
        context = seen.watch(persistent(browser, profile))
        page = context.pages[0] if context.pages else context.new_page()
        enrol_here(page, root, node)
        log_in_as(page, "Alex")
        page.goto(node.url + "/files/mine/")
        page.fill("form[action='/files/folder'] input[name=name]", FOLDER)
        page.click("form[action='/files/folder'] button")
        page.wait_for_url("**done=folder")
        page.click(f"a.folder:has-text('{FOLDER}')")
        folder = page.url
        assert "/files/item/" in folder
        page.set_input_files("#upload input[type=file]", str(upload))  # the script's upload
        page.click("#upload button[type=submit]")
        page.wait_for_url("**done=uploaded")
        page.click(f"a:has-text('{FILE_NAME}')")
        item = page.url
        with page.expect_download() as download:
            page.click("a.button[download]")
        assert download.value.suggested_filename == FILE_NAME
        page.fill("form[action='/files/move'] input[name=name]", "liste-cachee.txt")
        page.click("form[action='/files/move'] button")
        page.wait_for_url("**done=moved")
        assert page.url.split("?")[0] == item
        page.click("form[action='/files/delete'] button")
        page.wait_for_url("**done=deleted")
        assert page.url.split("?")[0] == folder
        page.goto(node.url + "/files/trash")
        page.click("form[action$='/restore'] button")
        page.wait_for_url("**done=restored")
        page.goto(node.url + "/notes")
        page.fill("form[action='/search'] input[name=q]", QUERY)
        page.click("form[action='/search'] button")
        page.wait_for_selector("ul.hits a:has-text('liste-cachee.txt')")
        assert page.url == node.url + "/search"
        page.click("ul.hits a:has-text('liste-cachee.txt')")
        page.wait_for_url(item)
        assert page.locator("strong:has-text('liste-cachee.txt')").count() == 1

        # The next member cannot open what Alex opened by its address.
        switch_person(page)
        log_in_as(page, "Sam")
        for address in (item, folder, item + "/download"):
            answer = page.goto(address)
            assert answer is not None and answer.status == 404, address
            assert "liste-cachee" not in page.content()
        switch_person(page)
        context.close()

    visited = [url for url, _ in history(profile)]
    assert any("/files/item/" in url for url in visited)  # the history was read, not empty
    addresses = visited + seen.urls + downloads(profile)
    assert any(url.endswith("/upload") for url in seen.urls)  # the upload script's requests
    for url in addresses:
        assert not any(name in url for name in NAMES_IN_ADDRESSES), url

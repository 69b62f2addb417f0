"""In a real headless Chromium, against a real `hameau serve` process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hameau.accounts import devices
from hameau.node.db import transaction
from tests.e2e.served import log_in_page, serve
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e


def household(root: Path) -> Path:
    node = make_node(root)
    add_member(node, "camille", admin=True)
    add_member(node, "alex")
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        devices.add_device(session, "Terminal de la cuisine", "terminal", True)
    node.close()
    return root


def enrol_link(root: Path, url: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "hameau", "device", "enrol-link", "Terminal de la cuisine",
         "--url", url, "--data-dir", str(root)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def node_storage(page: Any) -> dict[str, int]:
    return page.evaluate("() => ({local: localStorage.length, session: sessionStorage.length})")


def test_onboarding_creates_the_first_admin(tmp_path: Path, browser: Any) -> None:
    make_node(tmp_path / "fresh").close()
    with serve(tmp_path / "fresh") as node:
        assert "/setup" in node.output()
        page = browser.new_page(locale="fr-FR")
        page.goto(node.url)
        assert page.url.endswith("/setup")
        assert page.locator("h1").inner_text() == "Bienvenue sur le serveur de votre maison"
        page.fill("input[name=name]", "camille")
        page.fill("input[name=display_name]", "Camille")
        page.fill("input[name=password]", "un jardin partagé")
        page.fill("input[name=password_again]", "un jardin partagé")
        page.click("button[type=submit]")
        assert page.locator("h1").inner_text() == "Bonjour, Camille"
        assert page.locator("a[href='/admin/members']").count() == 1
        page.goto(node.url + "/setup")
        assert page.url.endswith("/")  # setup is closed once an admin exists
        page.close()


def test_two_members_one_after_the_other_on_a_shared_device(tmp_path: Path, browser: Any) -> None:
    root = household(tmp_path / "home")
    with serve(root) as node:
        context = browser.new_context(locale="fr-FR")
        page = context.new_page()
        page.goto(enrol_link(root, node.url))
        page.click("button[type=submit]")  # « Inscrire »
        assert page.locator("h1").inner_text() == "Qui est-ce ?"

        for display in ("Alex", "Sam"):
            page.click(f"ul.people button:has-text('{display}')")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            assert page.locator("h1").inner_text() == f"Bonjour, {display}"
            assert page.locator(".device-badge").inner_text().startswith("Terminal de la cuisine")
            # Something an app would leave behind in the browser.
            page.evaluate(
                "() => { localStorage.setItem('draft', '1'); sessionStorage.setItem('x', '1'); }"
            )
            page.click("header button:has-text('Changer de personne')")
            page.wait_for_url("**/login")  # idle.js saves any draft first, then leaves
            # Logged out: the picker again, and nothing of the member left in the browser
            # (the device cookie holds no member data).
            assert page.locator("h1").inner_text() == "Qui est-ce ?"
            assert [cookie["name"] for cookie in context.cookies()] == ["hameau_device"]
            assert node_storage(page) == {"local": 0, "session": 0}
            page.goto(node.url + "/account")
            assert "/login" in page.url  # the session is over on the server too
            page.go_back()
        context.close()


def test_a_member_resumes_on_a_second_browser_where_they_left_off(
    tmp_path: Path, browser: Any
) -> None:
    root = household(tmp_path / "home")
    with serve(root) as node:
        first = browser.new_context(locale="fr-FR")
        page = first.new_page()
        page.goto(node.url + "/login")
        page.fill("input[name=name]", "alex")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.click("a.tile[href='/account/sessions']")
        assert page.locator("h1").inner_text() == "Mes sessions"

        second = browser.new_context(locale="fr-FR")
        other = second.new_page()
        other.goto(node.url)
        other.fill("input[name=name]", "alex")
        other.fill("input[name=password]", PASSWORD)
        other.click("button[type=submit]")
        offer = other.locator("#resume")
        assert "Reprendre là où vous en étiez" in offer.inner_text()
        assert "Mes sessions" in offer.inner_text()
        other.click("#resume a.button")
        assert other.url == node.url + "/account/sessions"
        assert other.locator("h1").inner_text() == "Mes sessions"
        # The first browser's session shows there, and can be ended from here (htmx removes the row).
        rows = other.locator("tbody tr")
        assert rows.count() == 2
        other.locator("tbody tr:not(:has-text('cette session')) button").click()
        other.wait_for_function("() => document.querySelectorAll('tbody tr').length === 1")
        page.reload()
        assert "/login" in page.url
        first.close()
        second.close()


def test_pages_in_english_for_an_english_browser(tmp_path: Path, browser: Any) -> None:
    root = household(tmp_path / "home")
    with serve(root) as node:
        page = browser.new_page(locale="en-GB")
        page.goto(node.url)
        assert page.locator("h1").inner_text() == "Log in"
        page.close()


def test_files_upload_with_progress_and_notes_that_save_themselves(
    tmp_path: Path, browser: Any
) -> None:
    root = household(tmp_path / "home")
    upload = tmp_path / "récolte été.txt"
    upload.write_bytes(b"tomates, courgettes\n" * 20_000)
    with serve(root) as node:
        page = log_in_page(browser, node.url, "alex")
        page.goto(node.url + "/files/mine/")
        page.fill("input[name=name]", "Jardin")
        page.click("form[action='/files/folder'] button")
        page.click("a:has-text('Jardin')")
        page.set_input_files("#upload input[type=file]", str(upload))
        page.click("#upload button[type=submit]")
        page.wait_for_url("**done=uploaded")
        assert page.locator("table.files a:has-text('récolte été.txt')").count() == 1
        with page.expect_download() as download:
            page.click("a:has-text('récolte été.txt')")
            page.click("a[download]")
        assert Path(download.value.path()).read_bytes() == upload.read_bytes()

        page.goto(node.url + "/notes")
        page.click("button:has-text('Nouvelle note')")
        page.fill("textarea[name=text]", "# Semis\n\n**Radis** en mars")
        page.wait_for_function(
            "() => document.getElementById('status').textContent === 'Enregistré.'"
        )
        assert page.locator("#preview strong").inner_text() == "Radis"
        page.reload()
        assert page.locator("textarea[name=text]").input_value() == "# Semis\n\n**Radis** en mars"
        page.goto(node.url + "/search?q=radis")
        assert page.locator("ul.hits a:has-text('Semis')").count() == 1
        page.close()


def test_a_note_typed_before_its_script_ran_is_saved_all_the_same(
    tmp_path: Path, browser: Any
) -> None:
    """On a slow device the text can be typed before notes.js runs; no input event is heard
    then, and the note must not stay unsaved (the CI saw this race once under load)."""
    root = household(tmp_path / "home")
    with serve(root) as node:
        page = log_in_page(browser, node.url, "alex")
        held: list[Any] = []
        page.route("**/static/notes.js*", lambda route: held.append(route))
        page.goto(node.url + "/notes")
        page.click("button:has-text('Nouvelle note')")
        page.fill("textarea[name=text]", "Typed before the script")
        for _ in range(200):  # the route's handler is called while Playwright waits
            if held:
                break
            page.wait_for_timeout(50)
        assert held, "the note page did not ask for its script"
        assert page.locator("#status").inner_text() == ""
        held[0].continue_()
        page.wait_for_function(
            "() => document.getElementById('status').textContent === 'Enregistré.'"
        )
        page.unroute("**/static/notes.js*")
        page.reload()
        assert page.locator("textarea[name=text]").input_value() == "Typed before the script"
        page.close()


def test_going_back_to_a_note_never_saves_an_older_text_over_newer_edits(
    tmp_path: Path, browser: Any
) -> None:
    """Back to a note's page after it changed elsewhere: the page shows the newer text, and
    nothing the browser kept of the older one is saved over it."""
    root = household(tmp_path / "home")
    with serve(root) as node:
        page = log_in_page(browser, node.url, "alex")
        page.goto(node.url + "/notes")
        page.click("button:has-text('Nouvelle note')")
        address = page.url
        page.fill("textarea[name=text]", "Liste : pain")
        page.wait_for_function(
            "() => document.getElementById('status').textContent === 'Enregistré.'"
        )
        page.goto(node.url + "/notes")
        api = address.replace("/notes/", "/api/notes/")
        token = page.evaluate(
            '() => document.body.getAttribute(\'hx-headers\').match(/"X-CSRF-Token": "([^"]+)"/)[1]'
        )
        note = page.request.get(api).json()
        changed = page.request.put(
            api,
            data={"base": note["revision"], "text": "Liste : pain, lait"},
            headers={"X-CSRF-Token": token},
        )
        assert changed.ok, changed.text()
        page.go_back()
        page.wait_for_url(address)
        assert page.locator("textarea[name=text]").input_value() == "Liste : pain, lait"
        page.wait_for_timeout(2000)  # past the autosave's delay
        assert page.request.get(api).json()["text"] == "Liste : pain, lait"
        page.close()

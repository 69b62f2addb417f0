"""The hamlet's pages (visits, the device sign-in, AI lent to peers, nearby homes), in a real
Chromium at a phone's and a laptop's size, across real paired nodes (`hameau serve --tls`):
each has the site's header (and a logged-in member's navigation), scrolls no sideways, and
axe-core finds no critical or serious violation; what is unavailable is said in words.
A is the visitor's home, B the home whose shared terminal they use, C a home paired with none."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from hameau.node.datadir import Layout
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.test_hamlet_visit_terminal import TERMINAL, _cli
from tests.e2e.test_pages_everywhere import AXE, VIEWPORTS, check, new_context
from tests.helpers import PASSWORD, mdns_alone

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:EdDSA is deprecated")]
pytest.importorskip("joserfc", reason="not run: joserfc (with Authlib) is not installed")

ANNOUNCE = {"HAMEAU_HAMLET_ANNOUNCE": "on"}  # on loopback, announcing would be off by itself
PAGE = "/hamlet/visit/device"
# Pages where a member is logged in at their own home: the apps' navigation is there too.
MEMBER_PAGES = ("approving a code", "code refused", "code approved", "sessions with a visit",
                "AI lent to peers", "hamlet with nearby homes")  # fmt: skip


def at_sizes(page: Any, name: str, found: dict[str, list[str]]) -> None:
    """The page as it stands, at each size: overflow, axe, and its header or navigation."""
    for width, height in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        check(page, name, width, found)
    needed = "nav.apps" if name in MEMBER_PAGES else "header.top a.brand"
    if page.locator(needed).count() != 1:
        found["bare"].append(f"{name}: no {needed} ({page.url})")
    found["visited"].append(name)


def said(page: Any, name: str, words: str, found: dict[str, list[str]]) -> None:
    """What is wrong and what to do, said in the page's main part."""
    if words not in page.locator("main").inner_text():
        found["unsaid"].append(f"{name}: {words!r} not on the page ({page.url})")


def enrol(page: Any, home: Home) -> None:
    link = _cli(home, "device", "enrol-link", TERMINAL, "--url", home.url).strip()
    page.goto(link)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/devices/enrol" not in url)


def log_in(page: Any, home: Home, name: str) -> None:
    page.goto(home.url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(home.url + "/")


def sign_in_for_a_visit(page: Any, a: Home, b: Home, found: dict[str, list[str]]) -> None:
    """From B's "visiting" page to A's sign-in form (checked once) and back on B, as Ada."""
    page.goto(b.url + "/visit")
    page.click("ul.people button:has-text('A')")
    page.wait_for_url(a.url + "/hamlet/visit/authorize**")
    if "sign-in for a visit" not in found["visited"]:
        at_sizes(page, "sign-in for a visit", found)
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(b.url + "/")


def terminal_pages(terminal: Any, a: Home, b: Home, c: Home, found: dict[str, list[str]]) -> None:
    """At B's and C's shared terminals: the homes to visit from (or none), A's sign-in form
    and its refusal of a bad request."""
    page = terminal.new_page()
    enrol(page, c)
    page.goto(c.url + "/visit")
    at_sizes(page, "visit, no home paired", found)
    said(page, "visit, no home paired", "hameau hamlet invite", found)
    enrol(page, b)
    page.goto(b.url + "/visit")
    at_sizes(page, "visit from another home", found)
    answer = page.goto(a.url + "/hamlet/visit/authorize?response_type=code&client_id=nosuchnode")
    assert answer is not None and answer.status == 400
    at_sizes(page, "sign-in for a visit, bad request", found)
    page.close()


def device_pages(terminal: Any, phone: Any, a: Home, b: Home, found: dict[str, list[str]]) -> None:
    """B's device sign-in (code, address, QR), A's approving page, the refused and expired
    codes on the terminal, then one approved (its visit left at once)."""
    page = terminal.new_page()
    page.goto(b.url + "/visit")
    page.click("ul.device-homes button:has-text('A')")
    page.wait_for_url(b.url + "/visit/device")
    page.wait_for_selector("svg.qr")
    code = page.locator(".user-code").inner_text().strip()
    at_sizes(page, "device sign-in code", found)
    phone.goto(a.url + PAGE)
    at_sizes(phone, "approving a code", found)
    phone.goto(f"{a.url}{PAGE}?user_code={code}")
    phone.wait_for_selector("#asking")
    phone.click("button[value=refuse]")
    phone.wait_for_selector("main [role=status]")
    at_sizes(phone, "code refused", found)
    page.get_by_text("refusée depuis votre maison").wait_for(timeout=30_000)
    at_sizes(page, "device sign-in refused", found)
    said(page, "device sign-in refused", "Obtenir un nouveau code", found)
    page.click("text=Obtenir un nouveau code")
    page.wait_for_selector(".user-code")
    with sqlite3.connect(Layout(a.data_dir).database) as db:
        db.execute(
            "UPDATE hamlet_visit_devices SET expires_at = '2000-01-01 00:00:00.000000'"
            " WHERE approved IS NULL"
        )
    page.get_by_text("Le code a expiré").wait_for(timeout=30_000)
    at_sizes(page, "device sign-in expired", found)
    said(page, "device sign-in expired", "demandez-en un nouveau", found)
    page.click("text=Obtenir un nouveau code")
    code = page.locator(".user-code").inner_text().strip()
    phone.goto(f"{a.url}{PAGE}?user_code={code}")
    phone.click("button[value=approve]")
    phone.wait_for_selector("main [role=status]")
    at_sizes(phone, "code approved", found)
    page.wait_for_url(b.url + "/", timeout=30_000)  # the visit opened: left at once
    page.wait_for_selector("form#logout button")
    page.click("form#logout button")
    page.wait_for_url(b.url + "/login")
    page.close()


def visit_pages(terminal: Any, phone: Any, a: Home, b: Home, found: dict[str, list[str]]) -> None:
    """A visit: A's sign-in form, the member's sessions at home listing it; ended from there,
    then the terminal's page saying so."""
    page = terminal.new_page()
    sign_in_for_a_visit(page, a, b, found)
    phone.goto(a.url + "/account/sessions")
    phone.wait_for_selector("form[action^='/account/visits/']")
    at_sizes(phone, "sessions with a visit", found)
    phone.click("form[action^='/account/visits/'] button")
    phone.wait_for_selector("form[action^='/account/visits/']", state="detached")
    answer = page.goto(b.url + "/files/mine/")
    assert answer is not None and answer.status == 401
    at_sizes(page, "visit ended", found)
    said(page, "visit ended", "Retour à « Qui est-ce ? »", found)
    page.close()


def admin_pages(admin: Any, a: Home, found: dict[str, list[str]]) -> None:
    """An admin of A: the AI lent to peers, the hamlet with its nearby homes loaded."""
    answer = admin.goto(a.url + "/hamlet/ai")
    assert answer is not None and answer.status == 200
    at_sizes(admin, "AI lent to peers", found)
    admin.goto(a.url + "/hamlet")
    admin.wait_for_selector("#nearby[hx-trigger]", state="detached", timeout=30_000)
    at_sizes(admin, "hamlet with nearby homes", found)


def unreachable(terminal: Any, a: Home, b: Home, found: dict[str, list[str]]) -> None:
    """A visit whose home is gone (killed): the relay's 502, in words, with a way out; then
    the next visitor's choice of that home, refused before leaving for it."""
    page = terminal.new_page()
    sign_in_for_a_visit(page, a, b, found)
    a.served.process.send_signal(signal.SIGKILL)
    a.served.process.wait()
    answer = page.goto(b.url + "/files/mine/")
    assert answer is not None and answer.status == 502
    at_sizes(page, "home unreachable", found)
    said(page, "home unreachable", "ne peut pas être jointe", found)
    said(page, "home unreachable", "Terminer la visite", found)
    page.click("button:has-text('Terminer la visite')")
    page.wait_for_url(b.url + "/login")
    page.goto(b.url + "/visit")  # the next visitor from A: told before leaving for A
    page.click("ul.people button:has-text('A')")
    page.wait_for_url(b.url + "/visit/start")
    at_sizes(page, "home unreachable before signing in", found)
    said(page, "home unreachable before signing in", "réessayez plus tard", found)
    page.close()


def visit_all(browser: Any, homes: dict[str, Home]) -> dict[str, list[str]]:
    a, b, c = homes["A"], homes["B"], homes["C"]
    found: dict[str, list[str]] = {"wide": [], "axe": [], "visited": [], "bare": [], "unsaid": []}
    terminal = new_context(browser, *VIEWPORTS[0])
    own = new_context(browser, *VIEWPORTS[0])  # Ada's own phone, at home
    phone = own.new_page()
    log_in(phone, a, "ada")
    other = new_context(browser, *VIEWPORTS[1])  # Camille's laptop, at home
    admin = other.new_page()
    log_in(admin, a, "camille")
    terminal_pages(terminal, a, b, c, found)
    device_pages(terminal, phone, a, b, found)
    visit_pages(terminal, phone, a, b, found)
    admin_pages(admin, a, found)
    unreachable(terminal, a, b, found)  # A is gone after this one
    for context in (terminal, own, other):
        context.close()
    return found


@pytest.fixture(scope="module")
def found(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("hamlet-pages")
    env = {name: ANNOUNCE for name in ("A", "B", "C")}
    with mdns_alone(), hamlet(root, ("A", "B", "C"), (("B", "A"),), env) as homes:
        a = homes["A"]
        _cli(a, "member", "add", "ada", "--display-name", "Ada", "--password-stdin", stdin=PASSWORD)
        _cli(a, "member", "add", "camille", "--admin", "--password-stdin", stdin=PASSWORD)
        b = homes["B"]  # with a member of its own: its login page is "Who is it?", not setup
        _cli(b, "member", "add", "bea", "--display-name", "Bea", "--password-stdin", stdin=PASSWORD)
        for home in (b, homes["C"]):
            _cli(home, "device", "add", TERMINAL, "--kind", "terminal", "--shared")
        yield visit_all(browser, homes)


def test_every_hamlet_page_has_the_sites_header_or_navigation(found: dict[str, list[str]]) -> None:
    assert len(found["visited"]) == 16, found["visited"]
    assert found["bare"] == [], "pages without header or navigation:\n" + "\n".join(found["bare"])


def test_what_is_unavailable_is_said_with_what_to_do(found: dict[str, list[str]]) -> None:
    assert found["unsaid"] == [], "\n".join(found["unsaid"])


def test_no_hamlet_page_scrolls_sideways_at_360_or_1280_px(found: dict[str, list[str]]) -> None:
    assert found["wide"] == [], "pages wider than the window:\n" + "\n".join(found["wide"])


def test_axe_core_finds_no_critical_or_serious_violation(found: dict[str, list[str]]) -> None:
    if not AXE.exists():
        pytest.skip(f"not run: axe-core is missing ({AXE}); `make test` installs it with npm")
    assert found["axe"] == [], "axe-core violations:\n" + "\n".join(found["axe"])

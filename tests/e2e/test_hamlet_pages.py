"""The hamlet page in a real Chromium, between real nodes (tests/e2e/hamlet_nodes.py): two
admins pair their homes from their pages (invitation text and QR code), check each other,
one leaves; a member who is not an admin is refused; a peer killed (SIGKILL), then a peer
that accepts connections and never answers, is said unreachable in words while the pages
keep answering, and is left alone (no connection) until its next try."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "http_message_signatures", reason="not run: http-message-signatures is not installed"
)
from hameau.hamlet import client, pages, service
from hameau.hamlet.errors import PeerResting
from hameau.node.cli import settings_for
from hameau.node.datadir import open_node
from tests.blackhole import blackhole
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.served import log_in_page
from tests.e2e.test_pages_everywhere import AXE, VIEWPORTS, check, log_in, new_context
from tests.helpers import PASSWORD

pytestmark = pytest.mark.e2e


def add_member(home: Home, name: str, admin: bool = False) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hameau", "member", "add", name, "--password-stdin",
         *(["--admin"] if admin else []), "--data-dir", str(home.data_dir)],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def status_of(home: Home, path: str) -> int:
    """The status a plain client gets (no login: a page sends it to the login form)."""
    with urllib.request.urlopen(home.url + path, timeout=10, context=home.verify) as answer:
        return int(answer.status)


def row_of(page: Any, name: str) -> Any:
    return page.locator("tr.peer", has=page.locator("strong", has_text=re.compile(f"^{name}$")))


def check_now(page: Any, name: str) -> Any:
    """Clicks the peer's "Check now" (htmx replaces its row) and returns the new row."""
    row = row_of(page, name)
    row_id = row.get_attribute("id")
    row.evaluate("row => row.dataset.before = 'yes'")  # the new row comes without it
    row.locator("button", has_text="Vérifier").click()
    page.wait_for_selector(f"#{row_id}:not([data-before])", timeout=30_000)
    return page.locator(f"#{row_id}")


def make_invitation(page: Any, url: str) -> str:
    page.goto(url + "/hamlet")
    assert page.input_value("form[action='/hamlet/invite'] input[name=address]") == url
    page.fill("form[action='/hamlet/invite'] input[name=hours]", "2")
    page.click("form[action='/hamlet/invite'] button[type=submit]")
    text = page.input_value("#invitation-text")
    assert text.startswith("hameau-invite-")
    assert "dans 2 heures" in page.inner_text("#invitation")  # the expiry, in words
    return text


def test_two_admins_pair_their_homes_from_their_pages(tmp_path: Path, browser: Any) -> None:
    with hamlet(tmp_path, names=("A", "B"), pairs=()) as homes:
        a, b = homes["A"], homes["B"]
        for home in (a, b):
            add_member(home, "camille", admin=True)
        add_member(a, "alex")
        on_a = log_in_page(browser, a.url, "camille")
        text = make_invitation(on_a, a.url)
        # The QR code is the invitation shown, exactly: the same drawing segno makes of it.
        svg = on_a.locator("figure.qr svg[role=img]")
        drawn = svg.locator("path").get_attribute("d")
        expected = re.search(r' d="([^"]+)"', pages.qr_svg(text, "x"))
        assert expected is not None and drawn == expected.group(1)
        assert svg.get_attribute("aria-label")

        on_b = log_in_page(browser, b.url, "camille")
        on_b.goto(b.url + "/hamlet")
        on_b.fill("textarea[name=invitation]", text)
        assert on_b.input_value("form[action='/hamlet/join'] input[name=address]") == b.url
        on_b.click("form[action='/hamlet/join'] button[type=submit]")
        on_b.wait_for_url("**/hamlet?done=joined")
        assert row_of(on_b, "A").count() == 1
        on_a.goto(a.url + "/hamlet")
        assert row_of(on_a, "B").count() == 1
        assert "B" in a.run("hamlet", "list").stdout

        # Used once: the same invitation again is refused, in words.
        on_b.goto(b.url + "/hamlet")
        on_b.fill("textarea[name=invitation]", text)
        on_b.click("form[action='/hamlet/join'] button[type=submit]")
        assert "refusé cette invitation" in on_b.inner_text("main [role=alert]")

        assert "répond" in check_now(on_b, "A").inner_text()
        assert on_b.locator("nav.apps a[href='/hamlet']").count() == 1

        # A member who is not an admin: no entry in the navigation, the usual 403 page.
        as_alex = log_in_page(browser, a.url, "alex")
        assert as_alex.locator("nav.apps a[href='/hamlet']").count() == 0
        refused = as_alex.goto(a.url + "/hamlet")
        assert refused is not None and refused.status == 403

        # A leaves B (with a confirmation step): B's next call is refused at once.
        row_of(on_a, "B").locator("button", has_text="Quitter").click()
        on_a.click("main form button.danger")
        on_a.wait_for_url("**/hamlet?done=left")
        assert row_of(on_a, "B").count() == 0
        assert "B" in on_a.inner_text("#left-title + p + table")
        row = check_now(on_b, "A")
        assert "refuse cette maison" in row.inner_text()
        done = b.run("hamlet", "ping", "A")
        assert done.returncode != 0 and "401" in done.stderr
        assert "refused" in b.run("hamlet", "list").stdout


def call_as_a_page_would(home: Home, peer: str) -> Exception:
    """A's own client (not an explicit check) calling `peer`, from A's data directory."""
    node = open_node(settings_for(home.data_dir))
    try:
        with node.sessions() as db, client.to_peer(node, service.find(db, peer)) as calling:
            try:
                calling.call("GET", "/api/hamlet/ping")
            except client.PEER_ERRORS as failed:
                return failed
    finally:
        node.close()
    raise AssertionError(f"{peer} answered")


def test_a_peer_down_is_said_unreachable_and_never_slows_the_pages(
    tmp_path: Path, browser: Any
) -> None:
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),)) as homes:
        a, b = homes["A"], homes["B"]
        add_member(a, "camille", admin=True)
        on_a = log_in_page(browser, a.url, "camille")
        on_a.goto(a.url + "/hamlet")
        assert "répond" in check_now(on_a, "B").inner_text()

        b.served.process.kill()  # SIGKILL: no goodbye
        b.served.process.wait()
        row = check_now(on_a, "B")
        assert "injoignable" in row.inner_text()
        assert "est injoignable" in row.locator(".last-error").inner_text()
        for path in ("/hamlet", "/"):
            answer = on_a.goto(a.url + path)
            assert answer is not None and answer.status == 200
        assert status_of(a, "/healthz") == 200

        port = int(b.url.rsplit(":", 1)[1].split("/")[0])
        with blackhole(port) as hole:
            on_a.goto(a.url + "/hamlet")
            row = check_now(on_a, "B")  # an explicit check tries, even while B is left alone
            assert hole.attempts(at_least=1) == 1
            assert "n'a pas répondu à temps" in row.locator(".last-error").inner_text()
            assert "appels ratés de suite" in row.locator(".next-try").inner_text()
            failed = call_as_a_page_would(a, "B")  # any other call: at once, no connection
            assert isinstance(failed, PeerResting) and hole.attempts() == 1
            assert "will be tried again at" in str(failed)
            listing = a.run("hamlet", "list").stdout
            assert "unreachable" in listing and "next try" in listing
        at_phone_and_laptop_sizes(browser, a)


def at_phone_and_laptop_sizes(browser: Any, home: Home) -> None:
    """The page with a failing peer and an invitation shown, then the leave confirmation:
    nothing wider than a phone, and no critical or serious axe-core violation."""
    found: dict[str, list[str]] = {"wide": [], "axe": []}
    for width, height in VIEWPORTS:
        context = new_context(browser, width, height)
        page = context.new_page()
        log_in(page, home.url, "camille")
        make_invitation(page, home.url)
        check(page, "hamlet page", width, found)
        row_of(page, "B").locator("button", has_text="Quitter").click()
        check(page, "leave confirmation", width, found)
        context.close()
    assert found["wide"] == [], "\n".join(found["wide"])
    if not AXE.exists():
        pytest.skip(f"not run: axe-core is missing ({AXE}); `make test` installs it with npm")
    assert found["axe"] == [], "\n".join(found["axe"])


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@contextmanager
def linked_namespace() -> Iterator[tuple[str, str]]:
    """A network namespace joined to this one by a veth pair: (its name, its address)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("not run: network namespaces need root and iproute2's `ip`")
    tag = f"{os.getpid() % 100000}"
    name, outside, inside = f"hameau-{tag}", f"hmo{tag}", f"hmi{tag}"
    net = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}"
    made = ip("netns", "add", name)
    if made.returncode != 0:
        pytest.skip(f"not run: `ip netns add` failed here ({made.stderr.strip()})")
    try:
        for step in (
            ("link", "add", outside, "type", "veth", "peer", "name", inside),
            ("link", "set", inside, "netns", name),
            ("addr", "add", f"{net}.1/30", "dev", outside),
            ("link", "set", outside, "up"),
            ("-n", name, "addr", "add", f"{net}.2/30", "dev", inside),
            ("-n", name, "link", "set", inside, "up"),
            ("-n", name, "link", "set", "lo", "up"),
        ):
            done = ip(*step)
            assert done.returncode == 0, f"ip {' '.join(step)}: {done.stderr}"
        yield name, f"{net}.2"
    finally:
        ip("netns", "del", name)  # takes its end of the pair, and so the pair, with it
        ip("link", "del", outside)


def test_a_peer_behind_a_cut_link_is_unreachable_and_the_pages_answer(
    tmp_path: Path, browser: Any
) -> None:
    with (
        linked_namespace() as (namespace, address),
        hamlet(
            tmp_path, names=("A", "B"), pairs=(("A", "B"),), netns={"B": (namespace, address)}
        ) as homes,
    ):
        a = homes["A"]
        assert address in homes["B"].url
        add_member(a, "camille", admin=True)
        on_a = log_in_page(browser, a.url, "camille")
        on_a.goto(a.url + "/hamlet")
        assert "répond" in check_now(on_a, "B").inner_text()

        # The link is cut on B's side: A's packets go nowhere.
        cut = ip("-n", namespace, "link", "set", f"hmi{os.getpid() % 100000}", "down")
        assert cut.returncode == 0, cut.stderr
        # While A's check waits for B, A's pages answer (another browser of the same admin).
        other = log_in_page(browser, a.url, "camille")
        row = row_of(on_a, "B")
        row_id = row.get_attribute("id")
        row.evaluate("row => row.dataset.before = 'yes'")
        row.locator("button", has_text="Vérifier").click()
        for path in ("/hamlet", "/"):
            answer = other.goto(a.url + path)
            assert answer is not None and answer.status == 200
        on_a.wait_for_selector(f"#{row_id}:not([data-before])", timeout=30_000)
        assert "injoignable" in on_a.inner_text(f"#{row_id}")
        for path in ("/hamlet", "/"):
            answer = on_a.goto(a.url + path)
            assert answer is not None and answer.status == 200
        assert status_of(a, "/healthz") == 200
        assert "unreachable" in a.run("hamlet", "list").stdout

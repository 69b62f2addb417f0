"""Every page a member and an admin reach, in a real Chromium at a phone's and a laptop's size:
no sideways scrolling, and axe-core finds no critical or serious accessibility violation."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hameau.accounts import devices
from hameau.node.db import transaction
from tests.e2e.served import serve
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e

# Installed by `make test` (npm install axe-core@4 into node_modules/, not tracked).
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = [(360, 740), (1280, 800)]
DEVICE = "Terminal de la cuisine"

# A small picture: its page shows a preview, the folder's list a thumbnail.
PICTURE = {"name": "semis.png", "mimeType": "image/png", "buffer": base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAABgAAAAQCAIAAACDRijCAAAAHElEQVR42mPUz/dnoAZgYqASGDVo1KBRg0aqQQCFIgENZStOVgAAAABJRU5ErkJggg=="
)}  # fmt: skip

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter(v => v.impact === 'critical' || v.impact === 'serious')
    .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
}"""


def household(root: Path) -> Path:
    node = make_node(root)
    add_member(node, "camille", admin=True)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        devices.add_device(session, DEVICE, "terminal", True)
    node.close()
    return root


def new_context(browser: Any, width: int, height: int) -> Any:
    # bypass_csp lets the test inject axe-core; the node's CSP allows only its own scripts.
    viewport = {"width": width, "height": height}
    # A node served over https (the hamlet's) is taken with its own certificate as is.
    return browser.new_context(
        locale="fr-FR", viewport=viewport, bypass_csp=True, ignore_https_errors=True
    )


def log_in(page: Any, url: str, name: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def make_things(page: Any, url: str, upload: Path) -> dict[str, str]:
    """A folder, a file, a note and a conversation, made through the pages; their addresses."""
    page.goto(url + "/files/mine/")
    page.fill("input[name=name]", "Jardin")
    page.click("form[action='/files/folder'] button")
    page.click("a:has-text('Jardin')")
    folder = page.url
    page.set_input_files("#upload input[type=file]", str(upload))
    page.click("#upload button[type=submit]")
    page.wait_for_url("**done=uploaded")
    page.click(f"table.files a:has-text('{upload.name}')")
    file_page = page.url
    page.goto(folder)
    page.set_input_files("#upload input[type=file]", files=[PICTURE])
    page.click("#upload button[type=submit]")
    page.wait_for_url("**done=uploaded")
    page.click("table.files a:has-text('semis.png')")
    image_page = page.url
    page.goto(url + "/notes")
    page.click("button:has-text('Nouvelle note')")
    page.wait_for_url("**/notes/*")
    note = page.url
    page.goto(url + "/messages")
    page.check("input[name=to][value=alex]")
    page.fill("input[name=subject]", "Semis")
    page.fill("textarea[name=body]", "Radis en mars ?")
    page.click("form[action='/messages'] button[type=submit]")
    page.wait_for_url("**/messages/*")
    return {"files folder": folder, "file page": file_page, "image page": image_page,
            "note": note, "thread": page.url}  # fmt: skip


def admin_pages(url: str, made: dict[str, str]) -> dict[str, str]:
    paths = {
        "home": "/", "files trash": "/files/trash", "agenda week": "/agenda?view=week",
        "agenda month": "/agenda?view=month", "event form": "/agenda/event",
        "contacts": "/contacts", "notes": "/notes", "search": "/search?q=radis",
        "messages inbox": "/messages", "account": "/account", "sessions": "/account/sessions",
        "app passwords": "/account/tokens", "travel": "/travel", "AI": "/ai",
        "AI history": "/ai/history", "admin members": "/admin/members",
        "admin devices": "/admin/devices", "admin space": "/admin/space", "hamlet": "/hamlet",
    }  # fmt: skip
    return {**{name: url + path for name, path in paths.items()}, **made}


def check(page: Any, name: str, width: int, found: dict[str, list[str]]) -> None:
    """Records the page's sideways overflow and its axe-core violations under its name."""
    where = f"{name} at {width} px"
    # A form's click starts a navigation the page may still be in: the next page, once loaded.
    page.wait_for_load_state("load")
    page.wait_for_function("() => document.documentElement !== null && document.body !== null")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        found["wide"].append(f"{where}: {overflow} px too wide ({page.url})")
    if AXE.exists():
        page.add_script_tag(path=str(AXE))
        found["axe"] += [f"{where}: {line}" for line in page.evaluate(AXE_RUN)]


def visit_all(browser: Any, root: Path, upload: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"wide": [], "axe": [], "visited": []}
    with serve(root) as node:
        made: dict[str, str] = {}
        for width, height in VIEWPORTS:
            context = new_context(browser, width, height)
            page = context.new_page()
            page.goto(node.url + "/login")
            check(page, "login", width, found)
            log_in(page, node.url, "camille")
            made = made or make_things(page, node.url, upload)
            for name, address in admin_pages(node.url, made).items():
                answer = page.goto(address)
                assert answer is not None and answer.status == 200, f"{name}: {address}"
                check(page, name, width, found)
                found["visited"].append(f"{name} at {width} px")
            context.close()
            shared_device(browser, node.url, root, width, height, found)
    return found


def shared_device(
    browser: Any, url: str, root: Path, width: int, height: int, found: dict[str, list[str]]
) -> None:
    link = subprocess.run(
        [sys.executable, "-m", "hameau", "device", "enrol-link", DEVICE, "--url", url,
         "--data-dir", str(root)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    context = new_context(browser, width, height)
    page = context.new_page()
    page.goto(link)
    check(page, "device enrolment", width, found)
    page.click("button[type=submit]")
    check(page, "shared-device picker", width, found)
    page.click("ul.people button:has-text('Alex')")
    check(page, "shared-device password", width, found)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    check(page, "home on a shared device", width, found)
    page.goto(url + "/messages")
    check(page, "messages on a shared device", width, found)
    page.goto(url + "/files/household/")
    check(page, "files on a shared device", width, found)
    context.close()


@pytest.fixture(scope="module")
def found(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    base = tmp_path_factory.mktemp("pages")
    upload = base / "récolte.txt"
    upload.write_text("tomates, courgettes\n")
    yield visit_all(browser, household(base / "home"), upload)


def test_no_page_scrolls_sideways_at_360_or_1280_px(found: dict[str, list[str]]) -> None:
    assert len(found["visited"]) == 2 * 24
    assert found["wide"] == [], "pages wider than the window:\n" + "\n".join(found["wide"])


def test_axe_core_finds_no_critical_or_serious_violation(found: dict[str, list[str]]) -> None:
    if not AXE.exists():
        pytest.skip(f"not run: axe-core is missing ({AXE}); `make test` installs it with npm")
    assert found["axe"] == [], "axe-core violations:\n" + "\n".join(found["axe"])

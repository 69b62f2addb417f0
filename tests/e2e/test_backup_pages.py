"""The backup page in a real Chromium at a phone's and a laptop's size, in each of its states
(no target; the recovery sheet shown once after setup; a backup made; a failed one warned
of): no sideways scrolling, no critical or serious axe-core violation, French first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.served import serve
from tests.e2e.test_pages_everywhere import AXE, VIEWPORTS, check, household, log_in, new_context

pytestmark = pytest.mark.e2e


def _states(page: Any, url: str, usb: Path, width: int, found: dict[str, list[str]]) -> None:
    page.goto(url + "/backup")
    check(page, "backup, no target", width, found)
    assert "Sauvegardes" in page.content()
    page.fill("input[name=target]", str(usb / f"hameau-{width}"))
    page.click("form[action='/backup/targets'] button")
    page.wait_for_selector("#recovery-sheet, p.notice")
    check(page, "backup, just set up", width, found)
    page.goto(url + "/backup")
    page.click("form[action='/backup/now'] button")
    page.wait_for_url("**done=started")
    for _ in range(100):
        page.goto(url + "/backup")
        if "sauvegardé" in page.content():
            break
        page.wait_for_timeout(300)
    check(page, "backup, backed up", width, found)
    page.goto(url + "/")
    check(page, "home of an admin", width, found)


def test_the_backup_page_fits_a_phone_and_passes_axe(browser: Any, tmp_path: Path) -> None:
    root = household(tmp_path / "home")
    usb = tmp_path / "usb"
    usb.mkdir()
    found: dict[str, list[str]] = {"wide": [], "axe": []}
    with serve(root) as node:
        for width, height in VIEWPORTS:
            context = new_context(browser, width, height)
            page = context.new_page()
            log_in(page, node.url, "camille")
            page.wait_for_url(node.url + "/")
            _states(page, node.url, usb, width, found)
            context.close()
    assert found["wide"] == [], "\n".join(found["wide"])
    if not AXE.exists():
        pytest.skip(f"not run: axe-core is missing ({AXE}); `make test` installs it with npm")
    assert found["axe"] == [], "\n".join(found["axe"])

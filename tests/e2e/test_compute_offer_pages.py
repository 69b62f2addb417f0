"""The page "What I lend" in a real Chromium at a phone's and a laptop's size, before and
after an offer is saved and with a bad one refused: no sideways scrolling, no critical or
serious axe-core violation, French first, in the navigation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.served import serve
from tests.e2e.test_pages_everywhere import AXE, VIEWPORTS, check, household, log_in, new_context

pytestmark = pytest.mark.e2e


def _states(page: Any, url: str, width: int, found: dict[str, list[str]]) -> None:
    page.goto(url + "/")
    page.click("nav.apps a[href='/compute']")  # the compute part's entry, then its offer
    page.click("main a[href='/compute/offer']")
    page.wait_for_url("**/compute/offer")
    assert "Ce que je prête" in page.content()
    check(page, "offer, lending off", width, found)
    page.check("input[name=lending]")
    page.fill("input[name=memory]", "1G")
    page.fill("input[name=start]", "22")
    page.fill("input[name=end]", "7")
    page.fill("input[name=price]", "0,05")
    page.click("form[action='/compute/offer'] button")
    page.wait_for_url("**done=saved")
    assert "L’offre est enregistrée." in page.content()
    assert page.input_value("input[name=memory]") == "1G"
    check(page, "offer, saved", width, found)
    page.fill("input[name=memory]", "beaucoup")
    page.click("form[action='/compute/offer'] button")
    page.wait_for_selector("p.error[role=alert]")
    check(page, "offer, refused", width, found)


def test_the_offer_page_fits_a_phone_and_passes_axe(browser: Any, tmp_path: Path) -> None:
    root = household(tmp_path / "home")
    found: dict[str, list[str]] = {"wide": [], "axe": []}
    with serve(root) as node:
        for width, height in VIEWPORTS:
            context = new_context(browser, width, height)
            page = context.new_page()
            log_in(page, node.url, "camille")
            page.wait_for_url(node.url + "/")
            _states(page, node.url, width, found)
            context.close()
    assert found["wide"] == [], "\n".join(found["wide"])
    if not AXE.exists():
        pytest.skip(f"not run: axe-core is missing ({AXE}); `make test` installs it with npm")
    assert found["axe"] == [], "\n".join(found["axe"])

"""The credit pages in a real Chromium at a phone's and a laptop's size: the member's page
(empty, then after a payment and with a refusal shown) and the cooperative's page; no
sideways scrolling, no critical or serious axe-core violation, French first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.served import serve
from tests.e2e.test_pages_everywhere import AXE, VIEWPORTS, check, household, log_in, new_context

pytestmark = pytest.mark.e2e


def _states(page: Any, url: str, width: int, found: dict[str, list[str]]) -> None:
    page.goto(url + "/credit/admin")
    check(page, "cooperative", width, found)
    assert "Coopérative" in page.content()
    page.select_option("form[action='/credit/admin/issue'] select", label="camille (member)")
    page.fill("form[action='/credit/admin/issue'] input[name=amount]", "20")
    page.click("form[action='/credit/admin/issue'] button")
    page.wait_for_url("**done=issue")
    check(page, "cooperative, credit issued", width, found)
    page.goto(url + "/credit")
    check(page, "credit", width, found)
    page.fill("input[name=amount]", "2,50")
    page.fill("input[name=memo]", "Le pain de la semaine")
    page.click("form[action='/credit/transfer'] button")
    page.wait_for_url("**done=paid")
    check(page, "credit, paid", width, found)
    assert "Paiement inscrit au registre." in page.content()
    page.fill("input[name=amount]", "1000")
    page.click("form[action='/credit/transfer'] button")
    page.wait_for_selector("p.error")
    check(page, "credit, refused", width, found)
    assert "Crédit insuffisant" in page.content()
    page.click("form[action='/credit/verify'] button")
    page.wait_for_selector("#verified")
    check(page, "credit, verified", width, found)
    assert "Le registre est intact" in page.content()


def test_the_credit_pages_fit_a_phone_and_pass_axe(browser: Any, tmp_path: Path) -> None:
    root = household(tmp_path / "home")
    found: dict[str, list[str]] = {"wide": [], "axe": []}
    with serve(root) as node:
        for width, height in VIEWPORTS:
            context = new_context(browser, width, height)
            page = context.new_page()
            log_in(page, node.url, "camille")
            page.wait_for_url(node.url + "/")
            assert "Crédit" in page.content()  # the home's tile and the navigation
            _states(page, node.url, width, found)
            context.close()
    assert found["wide"] == [], "\n".join(found["wide"])
    if not AXE.exists():
        pytest.skip(f"not run: axe-core is missing ({AXE}); `make test` installs it with npm")
    assert found["axe"] == [], "\n".join(found["axe"])

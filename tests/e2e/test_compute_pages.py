"""The pages "Jobs I submitted" and "Jobs my home server ran" in a real Chromium at a phone's and a
laptop's size: reached from the navigation, a job submitted through the form (and one
refused), no sideways scrolling, no critical or serious axe-core violation, French first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hameau.config import Settings
from hameau.ledger import service
from hameau.node.datadir import open_node
from hameau.node.db import transaction
from tests.e2e.served import serve
from tests.e2e.test_pages_everywhere import AXE, VIEWPORTS, check, household, log_in, new_context

pytestmark = pytest.mark.e2e

MODULE = {"name": "pi.wasm", "mimeType": "application/wasm", "buffer": b"\0asm\x01\0\0\0"}


def _credit(root: Path) -> None:
    node = open_node(Settings(data_dir=root))
    try:
        with transaction(node.sessions) as session:
            service.issue(node, session, service.recipient(node, session, "alex"), 1000)
    finally:
        node.close()


def _submit(page: Any, budget: str) -> None:
    page.set_input_files("input[name=module]", files=[MODULE])
    page.fill("input[name=args]", "7 1000")
    page.fill("input[name=budget]", budget)
    page.click("form[action^='/compute/jobs'] button")


def _states(page: Any, url: str, width: int, found: dict[str, list[str]]) -> None:
    page.goto(url + "/")
    page.click("nav.apps a[href='/compute']")
    page.wait_for_url("**/compute")
    assert "Mes tâches de calcul" in page.content()
    check(page, "jobs I submitted", width, found)
    _submit(page, "2")
    page.wait_for_url("**done=submitted")
    assert "pi.wasm" in page.content()
    check(page, "jobs I submitted, one submitted", width, found)
    _submit(page, "500")  # more than alex has
    page.wait_for_selector("p.error[role=alert]")
    assert "Pas assez de crédit" in page.content()
    check(page, "jobs I submitted, refused", width, found)
    page.click("a[href='/compute/ran']")
    page.wait_for_url("**/compute/ran")
    check(page, "jobs my node ran", width, found)


def test_the_compute_pages_fit_a_phone_and_pass_axe(browser: Any, tmp_path: Path) -> None:
    root = household(tmp_path / "home")
    _credit(root)
    found: dict[str, list[str]] = {"wide": [], "axe": []}
    with serve(root) as node:
        for width, height in VIEWPORTS:
            context = new_context(browser, width, height)
            page = context.new_page()
            log_in(page, node.url, "alex")
            page.wait_for_url(node.url + "/")
            _states(page, node.url, width, found)
            context.close()
    assert found["wide"] == [], "\n".join(found["wide"])
    if not AXE.exists():
        pytest.skip(f"not run: axe-core is missing ({AXE}); `make test` installs it with npm")
    assert found["axe"] == [], "\n".join(found["axe"])

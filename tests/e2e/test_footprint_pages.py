"""The footprint's pages served by `hameau serve`: in a real Chromium at a phone's and a laptop's
size (no sideways scrolling, no critical or serious axe-core violation), and the node's power
measured from RAPL counters (a powercap tree in a temporary folder, as the settings point to)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hameau.accounts import devices, members
from hameau.node.db import transaction
from tests.e2e.served import login_cookie, serve
from tests.e2e.test_pages_everywhere import AXE, check, log_in, new_context
from tests.e2e.test_weight import weigh
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e

PAGES = {"member footprint": "/footprint", "household footprint": "/footprint/household"}
RANGE = 262_143_328_850


def home(root: Path) -> Path:
    node = make_node(root)
    add_member(node, "camille", admin=True)
    add_member(node, "alex")
    with transaction(node.sessions) as db:
        devices.add_device(db, "Terminal de la cuisine", "terminal", True, lifetime_years=12)
        alex = members.find_member(db, "alex")
        devices.add_device(db, "Téléphone d’Alex", "phone", False, owner=alex)
    node.close()
    return root


@pytest.fixture(scope="module")
def found(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    root = home(tmp_path_factory.mktemp("footprint") / "home")
    result: dict[str, list[str]] = {"wide": [], "axe": [], "visited": []}
    with serve(root) as node:
        for width, height in [(360, 740), (1280, 800)]:
            context = new_context(browser, width, height)
            page = context.new_page()
            log_in(page, node.url, "camille")
            page.wait_for_load_state("load")
            for name, path in PAGES.items():
                answer = page.goto(node.url + path)
                assert answer is not None and answer.status == 200, name
                check(page, name, width, result)
                result["visited"].append(f"{name} at {width} px")
            context.close()
    yield result


def test_the_footprint_pages_fit_a_phone(found: dict[str, list[str]]) -> None:
    assert len(found["visited"]) == 4
    assert found["wide"] == [], "\n".join(found["wide"])


def test_the_footprint_pages_are_accessible(found: dict[str, list[str]]) -> None:
    if not AXE.exists():
        pytest.skip(f"not run: axe-core is missing ({AXE}); `make test` installs it with npm")
    assert found["axe"] == [], "\n".join(found["axe"])


def _page(url: str, cookie: str) -> str:
    request = urllib.request.Request(url, headers={"Cookie": f"hameau_session={cookie}",
                                                   "Accept-Language": "en"})  # fmt: skip
    with urllib.request.urlopen(request) as answer:
        return answer.read().decode()


def test_a_served_node_measures_its_power_from_rapl(tmp_path: Path) -> None:
    root = home(tmp_path / "home")
    zone = tmp_path / "powercap" / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text(f"{RANGE}\n")
    (zone / "constraint_0_max_power_uw").write_text("25000000\n")
    (zone / "energy_uj").write_text(f"{RANGE - 1_000_000}\n")
    env = {"HAMEAU_FOOTPRINT_POWERCAP": str(tmp_path / "powercap")}
    with serve(root, env=env) as node:
        cookie = login_cookie(node.url, "camille", PASSWORD)
        first = _page(node.url + "/footprint/household", cookie)
        assert "RAPL read once so far" in first or "RAPL (package-0)" in first
        (zone / "energy_uj").write_text("5000000\n")  # wrapped: 6 J since
        page = _page(node.url + "/footprint/household", cookie)
    used = page.split("Used", 1)[1].split("</li>", 1)[0]
    assert "measured" in used and "RAPL (package-0), CPU package only" in used


def test_each_footprint_page_s_first_visit_weighs_at_most_30_kb(
    browser: Any, tmp_path: Path
) -> None:
    """Compressed as sent, page and styles (nothing cached yet), in a fresh browser each."""
    root = home(tmp_path / "home")
    with serve(root) as node:
        cookie = login_cookie(node.url, "camille", PASSWORD)
        for name, path in PAGES.items():
            context = browser.new_context(locale="fr-FR", base_url=node.url)
            context.add_cookies([{"name": "hameau_session", "value": cookie, "url": node.url}])
            page = context.new_page()
            size, asked = weigh(page, path)
            assert page.locator("svg.chart").count() >= 1, name
            assert not any(url.endswith(".js") or ".js?" in url for url in asked), asked
            assert size <= 30_000, f"the {name} page's first visit took {size} bytes"
            print(f"{name}: {size} bytes on a first visit")
            context.close()

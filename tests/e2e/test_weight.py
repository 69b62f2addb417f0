"""What a member's browser downloads, in a real Chromium against a real `hameau serve`:
pages, styles and scripts gzipped, htmx only on the pages that use it; event streams,
file downloads and WebDAV sent byte for byte as they are."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import login_cookie, serve
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e
GZIP = {"Accept-Encoding": "gzip"}


def household(root: Path) -> str:
    """A node with alex, and an app password of alex's for the file API."""
    node = make_node(root)
    add_member(node, "alex")
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "test")[1]
    node.close()
    return secret


def weigh(page: Any, path: str) -> tuple[int, list[str]]:
    """Bytes received (headers and bodies as sent) while ``page`` opens ``path``, and the
    addresses asked for."""
    finished: list[Any] = []

    def keep(request: Any) -> None:
        finished.append(request)

    page.on("requestfinished", keep)
    page.goto(path)
    page.wait_for_load_state("load")
    page.remove_listener("requestfinished", keep)
    total = 0
    for request in finished:
        sizes = request.sizes()
        total += sizes["responseHeadersSize"] + max(sizes["responseBodySize"], 0)
    return total, [request.url for request in finished]


def test_the_home_page_first_visit_and_a_later_page_are_light(tmp_path: Path, browser: Any) -> None:
    household(tmp_path / "n")
    with serve(tmp_path / "n") as served:
        cookie = login_cookie(served.url, "alex", PASSWORD)
        context = browser.new_context(locale="fr-FR", base_url=served.url)
        context.add_cookies([{"name": "hameau_session", "value": cookie, "url": served.url}])
        page = context.new_page()
        first, asked = weigh(page, "/")
        assert page.locator("a[href='/notes']").count() >= 1  # the logged-in home page
        assert any(url.endswith(".css?v=" + url.split("?v=")[-1]) for url in asked)
        assert not any("htmx" in url for url in asked)  # the home page uses no htmx
        assert first <= 30_000, f"the home page's first visit took {first} bytes"
        later, _ = weigh(page, "/notes")
        assert later <= 8_000, f"the notes list took {later} bytes with the styles cached"
        # The page that ends a session in place still gets htmx.
        _, asked = weigh(page, "/account/sessions")
        assert any("/static/htmx.min.js" in url for url in asked)
        context.close()


def test_pages_are_gzipped_and_streams_and_downloads_are_not(tmp_path: Path) -> None:
    secret = household(tmp_path / "n")
    text = ("Liste des courses : pommes, poires, farine, œufs.\n" * 800).encode()
    with serve(tmp_path / "n") as served:
        files = httpx.Client(base_url=served.url, auth=("alex", secret), headers=GZIP)
        assert files.put("/api/files/mine/courses.txt", content=text).status_code == 201
        for path in ("/api/files/mine/courses.txt", "/dav/files/mine/courses.txt"):
            whole = files.get(path)
            assert whole.status_code == 200
            assert "content-encoding" not in whole.headers
            assert whole.headers["content-length"] == str(len(text))
            assert whole.content == text
        part = files.get("/api/files/mine/courses.txt", headers={"Range": "bytes=10-99"})
        assert part.status_code == 206 and "content-encoding" not in part.headers
        assert part.content == text[10:100]

        alex = httpx.Client(
            base_url=served.url,
            cookies={"hameau_session": login_cookie(served.url, "alex", PASSWORD)},
            headers=GZIP,
        )
        home = alex.get("/")
        assert home.headers["content-encoding"] == "gzip" and "Bonjour" in home.text
        style = alex.get(re.search(r'href="(/static/style\.css[^"]*)"', home.text).group(1))  # type: ignore[union-attr]
        assert style.headers["content-encoding"] == "gzip"
        assert "immutable" in style.headers["cache-control"]
        listing = alex.get("/messages").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', listing).group(1)  # type: ignore[union-attr]
        started = alex.post(
            "/messages",
            data={"csrf_token": token, "subject": "Ce soir", "body": "20 h ?", "to": "sam"},
        )
        with alex.stream("GET", started.headers["location"] + "/events", timeout=20) as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in events.headers

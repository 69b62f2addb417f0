"""Hostile values in every field of every page and form (a number past what the database
holds, a NUL, 5,000 characters, a path, markup, the first and last days Python knows…): a 4xx with a sentence or the page, never a
500. The JSON API gets the same from schemathesis (tests/e2e/test_schemathesis.py); pages are
not in its description, so they are walked here from the route table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from hameau.app import load_parts
from tests.helpers import add_member, browser, csrf, log_in, make_node
from tests.web.test_routes import all_routes

HOSTILE = (str(2**64), "-1", "0", "x" * 5000, "\x00", "%00", "é" * 10, "../../etc/passwd",
           "<script>", "1e999", "nan", "[]", " ", "9999-12-31", "0001-01-01T00:00")  # fmt: skip
# Node-to-node routes are signed (tests/hamlet); a live stream would wait for news.
LEFT = re.compile(r"^/api/hamlet/|^/logout$|/events$")


def _flat(dependant: Any) -> Iterator[Any]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _flat(sub)


class Admin:
    """An admin logged in on a node with a note; made again when a form logged them out
    (their own account disabled, their password changed…)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.made = folder, 0
        self.client, self.token = self._make()

    def _make(self) -> tuple[TestClient, str]:
        self.made += 1
        node = make_node(self.folder / str(self.made))
        add_member(node, "camille", admin=True)
        add_member(node, "alex")
        client = browser(node)
        log_in(client, "camille")
        token = csrf(client.get("/").text)
        client.post("/notes", data={"csrf_token": token})
        return client, token

    def still_in(self) -> None:
        if self.client.get("/api/me").status_code == 200:
            self.token = csrf(self.client.get("/").text)
        else:
            self.client, self.token = self._make()


def test_hostile_values_in_any_page_field_are_never_a_500(tmp_path: Path) -> None:
    admin = Admin(tmp_path)
    refused, tried = [], 0
    for route in all_routes(load_parts(admin.client.app).routes):  # type: ignore[arg-type]
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        dependant = getattr(route, "dependant", None)
        if dependant is None or LEFT.search(path):
            continue
        queries = {p.alias for d in _flat(dependant) for p in d.query_params}
        fields = {p.alias for d in _flat(dependant) for p in d.body_params} - {"csrf_token"}
        for method in sorted((route.methods or set()) - {"HEAD"}):
            for value in HOSTILE:
                answer = admin.client.request(
                    method, path, params=dict.fromkeys(queries, value),
                    data=None if method == "GET" else
                    {**dict.fromkeys(fields, value), "csrf_token": admin.token},
                    headers={"X-CSRF-Token": admin.token},
                )  # fmt: skip
                tried += 1
                if answer.status_code >= 500:
                    refused.append((method, route.path, value[:20], answer.status_code))
            admin.still_in()
    assert tried > 1000
    assert not refused, refused

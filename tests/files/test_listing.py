"""Big folders in pieces: a folder of thousands of entries read page by page through the JSON
API, the folder's page and PROPFIND gives every name exactly once, in the pages' order
(folders first, then by name, case aside), also while entries come and go in between."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from defusedxml import ElementTree

from hameau.accounts import members
from hameau.files import listing
from hameau.files import service as files
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.files.test_http import token
from tests.helpers import add_member, browser, log_in, make_node

FILES, FOLDERS = 2500, 40


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, list[str]]]:
    """A node whose alex has `big/`: FOLDERS folders and FILES files (names of mixed case),
    written as the store writes them; with the names in the order every door lists them.
    The test that changes the folder comes last."""
    node = make_node(tmp_path_factory.mktemp("listing") / "node")
    yield node, big_folder(node)
    node.close()


def big_folder(node: Node) -> list[str]:
    add_member(node, "alex")
    digest = node.blobs.put(b"one content for all")
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        where = files.space(member, "mine")
        files.make_folder(session, member, where, ["big"])
        folders = [f"{'Dossier' if n % 2 else 'dossier'} {n:03}" for n in range(FOLDERS)]
        for name in folders:
            files.make_folder(session, member, where, ["big", name])
        names = [f"{'Photo' if n % 3 else 'photo'}-{n:05}.jpg" for n in range(FILES)]
        for name in names:
            plan = files.plan_write(session, member, where, ["big", name])
            files.record_write(session, plan, member, digest, 19)
    return sorted(folders, key=str.lower) + sorted(names, key=str.lower)


def test_a_cursor_that_cannot_be_read_is_refused_in_one_sentence(node: Node) -> None:
    add_member(node, "alex")
    client, auth = browser(node), token(node, "alex")
    for cursor, status in (("abc", 400), ("99999999", 400), ("1" * 41, 422)):
        answer = client.get(f"/api/files/mine/?cursor={cursor}", headers=auth)
        assert answer.status_code == status, answer.text
        said = answer.json()["error"]
        assert said.endswith(".") and "\n" not in said


def test_the_folder_page_shows_a_page_of_entries_and_a_next_link(
    big: tuple[Node, list[str]],
) -> None:
    node, expected = big
    client = browser(node)
    log_in(client, "alex")
    seen: list[str] = []
    address: str | None = "/files/mine/big/"
    while address:
        page = client.get(address)
        assert page.status_code == 200, page.text
        rows = re.findall(r'href="/files/mine/big/([^"?]+?)/?"', page.text)
        assert len(rows) <= listing.PAGE
        seen += [unquote(row) for row in rows]
        found = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        address = found.group(1).replace("&amp;", "&") if found else None
    assert seen == expected


def test_propfind_lists_every_member_once(big: tuple[Node, list[str]]) -> None:
    node, expected = big
    client, auth = browser(node), token(node, "alex")
    secret = auth["Authorization"].split()[1]
    answer = client.request(
        "PROPFIND", "/dav/files/mine/big/", headers={"Depth": "1"}, auth=("alex", secret)
    )
    assert answer.status_code == 207
    assert "content-length" not in answer.headers  # streamed
    hrefs = [
        unquote(href.text or "")
        for href in ElementTree.fromstring(answer.content).iter("{DAV:}href")
    ]
    assert hrefs[0] == "/dav/files/mine/big/"
    names = [href.removeprefix("/dav/files/mine/big/").rstrip("/") for href in hrefs[1:]]
    assert names == expected
    named = client.request(
        "PROPFIND", "/dav/files/mine/big/", headers={"Depth": "1"}, auth=("alex", secret),
        content=b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/>'
        b"</D:prop></D:propfind>",
    )  # fmt: skip
    lengths = ElementTree.fromstring(named.content).iter("{DAV:}getcontentlength")
    assert sum(1 for length in lengths if length.text == "19") == FILES


def test_the_api_gives_every_name_once_page_by_page_in_order(
    big: tuple[Node, list[str]],
) -> None:
    node, expected = big
    client, auth = browser(node), token(node, "alex")
    seen: list[str] = []
    address: str | None = "/api/files/mine/big/?limit=300"
    pages = 0
    while address:
        answer = client.get(address, headers=auth)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["entries"]) <= 300
        seen += [entry["name"] for entry in body["entries"]]
        address, pages = body["next"], pages + 1
        if pages == 3:  # entries come and go meanwhile: one already seen, one not yet
            for gone in (seen[0], expected[-1]):
                assert client.delete(f"/api/files/mine/big/{gone}", headers=auth).status_code == 204
            assert client.put("/api/files/mine/big/aaa-new.jpg", content=b"n", headers=auth)
    assert pages == -(-(len(expected) - 1) // 300)
    assert seen == [name for name in expected if name != expected[-1]]  # once each, in order
    whole = client.get("/api/files/mine/big/", headers=auth).json()  # the default: 1,000
    assert len(whole["entries"]) == listing.API_LIMIT and whole["cursor"]


def test_the_listing_index_is_made_by_the_migrations(any_node: Node) -> None:
    """Alembic cannot compare an expression index on SQLite (tests/node/test_node.py warns
    so): this says it is there, as the model declares it (on PostgreSQL too)."""
    node = any_node
    listed = (
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_file_entries_listing'"
        if node.engine.dialect.name == "postgresql"
        else "SELECT sql FROM sqlite_master WHERE name = 'ix_file_entries_listing'"
    )
    with node.engine.connect() as connection:
        made = connection.exec_driver_sql(listed).scalar()
    assert made is not None and "lower((name)" in made.replace("lower(name", "lower((name")
    assert "deleted_at IS NULL" in made

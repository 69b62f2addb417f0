"""Files through the pages and the JSON API: the same store, the same rights, the same quota."""

from __future__ import annotations

import html

from hameau.accounts import members, tokens
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, csrf, csrf_header, log_in, post_form


def token(node: Node, name: str) -> dict[str, str]:
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, name), "test")[1]
    return {"Authorization": f"Bearer {secret}"}


def test_upload_list_download_with_range(node: Node) -> None:
    add_member(node, "alex")
    client, auth = browser(node), token(node, "alex")
    data = bytes(range(256)) * 40
    made = client.put("/api/files/mine/docs/table.bin", content=data, headers=auth)
    assert made.status_code == 404  # the folder does not exist yet: nothing is created silently
    assert (
        client.post(
            "/api/files/folders", json={"space": "mine", "path": "docs"}, headers=auth
        ).status_code
        == 201
    )
    made = client.put("/api/files/mine/docs/table.bin", content=data, headers=auth)
    assert made.status_code == 201 and made.json()["size"] == len(data)
    listing = client.get("/api/files/mine/docs", headers=auth).json()
    assert [entry["name"] for entry in listing["entries"]] == ["table.bin"]
    whole = client.get("/api/files/mine/docs/table.bin", headers=auth)
    assert whole.content == data and "attachment" in whole.headers["content-disposition"]
    part = client.get("/api/files/mine/docs/table.bin", headers={**auth, "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]


def test_pages_browse_upload_rename_and_delete(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    page = client.get("/files/mine/")
    assert page.status_code == 200 and "Mes fichiers" in page.text
    upload = client.post(
        f"/files/upload?csrf_token={csrf(page.text)}",
        data={"space": "mine", "path": ""},
        files=[
            ("files", ("un été.txt", b"soleil", "text/plain")),
            ("files", ("b.txt", b"bb", "text/plain")),
        ],
    )
    assert upload.status_code == 303
    listing = client.get("/files/mine/").text
    assert "un été.txt" in html.unescape(listing) and "b.txt" in listing
    assert (
        post_form(
            client, "/files/mine/b.txt", "/files/move", space="mine", path="b.txt", name="c.txt"
        ).status_code
        == 303
    )
    assert client.get("/api/files/mine/c.txt").content == b"bb"
    assert (
        post_form(
            client, "/files/mine/c.txt", "/files/delete", space="mine", path="c.txt"
        ).status_code
        == 303
    )
    assert client.get("/api/files/mine/c.txt").status_code == 404
    assert "c.txt" in client.get("/files/trash").text


def test_another_member_cannot_reach_private_files_until_shared_and_then_only_them(
    node: Node,
) -> None:
    for name in ("alex", "sam", "louise"):
        add_member(node, name)
    alex, sam, louise = token(node, "alex"), token(node, "sam"), token(node, "louise")
    client = browser(node)
    client.put("/api/files/mine/secret.txt", content=b"private", headers=alex)
    client.put("/api/files/household/menu.txt", content=b"pasta", headers=alex)
    # Sam's "mine" is Sam's own: Alex's file is not there, whatever the path.
    assert client.get("/api/files/mine/secret.txt", headers=sam).status_code == 404
    for sneaky in ("/api/files/mine/../secret.txt", "/api/files/mine/%2e%2e/secret.txt"):
        assert client.get(sneaky, headers=sam, follow_redirects=True).status_code in (400, 404)
    assert client.get("/api/files/household/menu.txt", headers=sam).content == b"pasta"
    with transaction(node.sessions) as session:
        from hameau.files import service as files

        owner = members.find_member(session, "alex")
        _, entry = files.locate(session, owner, "mine", "secret.txt")
        entry_id = entry.id
    assert client.get(f"/api/files/shared/{entry_id}", headers=sam).status_code == 404

    page = browser(node)
    log_in(page, "alex")
    shared = post_form(
        page,
        "/files/mine/secret.txt",
        "/files/share",
        space="mine",
        path="secret.txt",
        **{"with": "sam"},
    )
    assert shared.status_code == 303
    assert client.get(f"/api/files/shared/{entry_id}", headers=sam).content == b"private"
    assert client.get(f"/api/files/shared/{entry_id}", headers=louise).status_code == 404
    assert (
        client.put(f"/api/files/shared/{entry_id}", content=b"changed", headers=sam).status_code
        == 403
    )
    assert client.delete(f"/api/files/shared/{entry_id}", headers=sam).status_code == 403
    sam_page = browser(node)
    log_in(sam_page, "sam")
    assert "secret.txt" in sam_page.get("/files/shared/").text
    assert "secret.txt" not in browser_page(node, "louise").get("/files/shared/").text


def browser_page(node: Node, name: str):  # type: ignore[no-untyped-def]
    client = browser(node)
    log_in(client, name)
    return client


def test_an_upload_over_quota_is_refused_with_507_and_leaves_nothing(node: Node) -> None:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        members.set_quota(members.find_member(session, "alex"), 1)
    client, auth = browser(node), token(node, "alex")
    declared = client.put("/api/files/mine/big.bin", content=b"x" * 2_000_000, headers=auth)
    assert declared.status_code == 507 and declared.json()["error"]
    streamed = client.put(
        "/api/files/mine/big.bin", content=iter([b"x" * 600_000, b"y" * 600_000]), headers=auth
    )
    assert streamed.status_code == 507
    assert client.get("/api/files/mine/big.bin", headers=auth).status_code == 404
    assert list(node.blobs.temp_dir.iterdir()) == []
    assert list(node.blobs.root.glob("??/??/*")) == []


def test_hostile_names_are_refused_on_upload(node: Node) -> None:
    add_member(node, "alex")
    client, auth = browser(node), token(node, "alex")
    for path in (
        "%2e%2e",
        "a/%2e%2e/%2e%2e/x",
        "%2e%2e/x",
        "bad%00name",
        "tab%09name",
        "%2F%2Fabs",
        "%5c..%5cx",
    ):
        answer = client.put(f"/api/files/mine/{path}", content=b"x", headers=auth)
        assert answer.status_code in (400, 404), (path, answer.status_code)
    listing = client.get("/api/files/mine/", headers=auth).json()
    assert listing["entries"] == [] or all(".." not in e["name"] for e in listing["entries"])


def test_the_csrf_token_is_needed_for_a_browser_upload(node: Node) -> None:
    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    refused = client.put("/api/files/mine/x.txt", content=b"x")
    assert refused.status_code == 403
    accepted = client.put("/api/files/mine/x.txt", content=b"x", headers=csrf_header(client))
    assert accepted.status_code == 201

"""On a shared device the Files pages name nothing in their addresses (links, redirects, the
upload script's target, search): browsers keep addresses in their history. Folders and files
are reached by id there, with the same rights as by path. (In a real Chromium, with its
History database: tests/e2e/test_shared_device.py.)"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.testclient import TestClient

from hameau.accounts import devices, members
from hameau.files import service as files
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, csrf, csrf_header, enrol, log_in

SECRETS = ("Cadeaux", "liste-surprise", "vélo rouge", "v%C3%A9lo")
ADDRESS = re.compile(r'(?:href|action|src|data-target)="([^"]*)"')


def on_kitchen_terminal(node: Node, name: str) -> TestClient:
    with transaction(node.sessions) as session:
        devices.add_device(session, f"Terminal {name}", "terminal", True)
    client = browser(node)
    enrol(client, node, f"Terminal {name}")
    log_in(client, name)
    return client


def entry_id(node: Node, owner: str, key: str, path: str) -> int:
    with transaction(node.sessions) as session:
        return files.locate(session, members.find_member(session, owner), key, path)[1].id


def addresses(page_html: str) -> list[str]:
    return ADDRESS.findall(page_html)


def assert_names_nothing(address: str) -> None:
    assert not any(secret in address for secret in SECRETS), address


def post(client: TestClient, action: str, **fields: str) -> str:
    """A form of the pages, posted; returns where the node sends the browser next."""
    answer = client.post(action, data=fields, headers=csrf_header(client))
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert_names_nothing(location)
    return location


def test_on_a_shared_device_files_pages_and_their_redirects_name_nothing(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    alex = on_kitchen_terminal(node, "alex")
    # A new folder: back to its parent (the space's root: no name).
    assert post(alex, "/files/folder", space="mine", path="", name="Cadeaux") == (
        "/files/mine/?done=folder"
    )
    folder = entry_id(node, "alex", "mine", "Cadeaux")
    # The no-script upload form: back to the folder, by its id.
    upload = alex.post(
        f"/files/upload?csrf_token={csrf(alex.get('/files/mine/').text)}",
        data={"space": "mine", "path": "Cadeaux"},
        files=[("files", ("liste-surprise.txt", "un vélo rouge".encode(), "text/plain"))],
    )
    assert upload.headers["location"] == f"/files/item/{folder}?done=uploaded"
    item = entry_id(node, "alex", "mine", "Cadeaux/liste-surprise.txt")

    listing = alex.get("/files/mine/")  # a space's root: still its own (nameless) address
    assert f'href="/files/item/{folder}"' in listing.text
    inside = alex.get(f"/files/item/{folder}")
    assert inside.status_code == 200 and "liste-surprise.txt" in inside.text
    assert f'href="/files/item/{item}"' in inside.text
    assert f'data-target="/files/item/{folder}/upload" data-by-id' in inside.text
    page = alex.get(f"/files/item/{item}")
    assert page.status_code == 200 and "liste-surprise.txt" in page.text
    assert f'href="/files/item/{item}/download"' in page.text
    for address in addresses(listing.text + inside.text + page.text):
        assert_names_nothing(address)
    download = alex.get(f"/files/item/{item}/download")
    assert download.content == "un vélo rouge".encode()
    assert "attachment" in download.headers["content-disposition"]  # the name is only here

    # The upload script's door: the name in a header, never in the address; the content
    # streams in, past the limit of a form's body.
    helmet = b"un casque " * 30_000
    put = alex.put(
        f"/files/item/{folder}/upload",
        content=helmet,
        headers={**csrf_header(alex), "X-File-Name": quote("casque vélo.txt")},
    )
    assert put.status_code == 201
    assert alex.get("/api/files/mine/Cadeaux/casque%20v%C3%A9lo.txt").content == helmet

    # Every other form goes back to an address by id.
    fields = {"space": "mine", "path": "Cadeaux/liste-surprise.txt"}
    assert post(alex, "/files/share", **fields, **{"with": "sam"}) == (
        f"/files/item/{item}?done=shared"
    )
    moved = post(alex, "/files/move", **fields, name="liste-surprise.md", to_folder="")
    assert moved == f"/files/item/{item}?done=moved"
    alex.put(
        f"/files/item/{folder}/upload",
        content=b"v2",
        headers={**csrf_header(alex), "X-File-Name": "liste.txt"},
    )
    alex.put(
        f"/files/item/{folder}/upload",
        content=b"v3",
        headers={**csrf_header(alex), "X-File-Name": "liste.txt"},
    )
    fields = {"space": "mine", "path": "Cadeaux/liste.txt"}
    listed = entry_id(node, "alex", "mine", "Cadeaux/liste.txt")
    version = re.search(r'name="version" value="(\d+)"', alex.get(f"/files/item/{listed}").text)
    assert version
    assert post(alex, "/files/version", **fields, version=version.group(1)) == (
        f"/files/item/{listed}?done=version"
    )
    assert post(alex, "/files/delete", **fields) == f"/files/item/{folder}?done=deleted"
    assert post(alex, f"/files/trash/{listed}/restore") == f"/files/item/{folder}?done=restored"

    # A bookmark of the readable address still opens, and its links are by id too.
    bookmark = alex.get("/files/mine/Cadeaux/")
    assert bookmark.status_code == 200 and f'href="/files/item/{listed}"' in bookmark.text


def test_search_is_posted_on_a_shared_device(node: Node) -> None:
    add_member(node, "alex")
    alex = on_kitchen_terminal(node, "alex")
    alex.put(
        f"/files/item/{entry_id(node, 'alex', 'mine', '')}/upload",
        content="un vélo rouge".encode(),
        headers={**csrf_header(alex), "X-File-Name": "liste-surprise.txt"},
    )
    form = alex.get("/notes").text
    # Posted, and kept out of the browser's form history (autocomplete off, as every form
    # of a shared device's pages).
    assert '<form autocomplete="off" class="inline" method="post" action="/search">' in form
    found = alex.post("/search", data={"q": "vélo", "csrf_token": csrf(form)})
    assert found.status_code == 200 and "liste-surprise.txt" in found.text
    hit = re.search(r'href="(/files/item/\d+)"', found.text)
    assert hit and alex.get(hit.group(1)).status_code == 200
    personal = browser(node)
    log_in(personal, "alex")
    assert '<form class="inline" method="get" action="/search">' in personal.get("/notes").text


def test_a_personal_device_keeps_readable_addresses(node: Node) -> None:
    add_member(node, "alex")
    alex = browser(node)
    log_in(alex, "alex")
    alex.put("/api/files/mine/liste-surprise.txt", content=b"x", headers=csrf_header(alex))
    item = entry_id(node, "alex", "mine", "liste-surprise.txt")
    assert 'href="/files/mine/liste-surprise.txt"' in alex.get("/files/mine/").text
    # An address by id (a search result, a place to resume) leads to the readable one.
    opened = alex.get(f"/files/item/{item}")
    assert opened.status_code == 303
    assert opened.headers["location"] == "/files/mine/liste-surprise.txt"
    assert alex.get(f"/files/open/{item}", follow_redirects=True).url.path == (
        "/files/mine/liste-surprise.txt"
    )


def without_tokens(page: str) -> str:
    """A page with its form tokens blanked: each page draws a fresh one."""
    return re.sub(r"[0-9a-f]{16}~[0-9a-f]{40}", "TOKEN", page)


def test_an_address_by_id_answers_only_those_who_may_read_it(node: Node) -> None:
    for name in ("alex", "sam"):
        add_member(node, name)
    alex = browser(node)
    log_in(alex, "alex")
    header = csrf_header(alex)
    alex.post("/api/files/folders", json={"space": "mine", "path": "Cadeaux"}, headers=header)
    alex.put("/api/files/mine/Cadeaux/liste-surprise.txt", content=b"secret", headers=header)
    alex.put("/api/files/household/menu.txt", content=b"pasta", headers=header)
    folder = entry_id(node, "alex", "mine", "Cadeaux")
    item = entry_id(node, "alex", "mine", "Cadeaux/liste-surprise.txt")
    menu = entry_id(node, "alex", "household", "menu.txt")
    sam = on_kitchen_terminal(node, "sam")
    unknown = sam.get("/files/item/999999")
    assert unknown.status_code == 404
    assert sam.get("/files/item/" + "9" * 30).status_code == 422  # past any row id: bad input
    # Another member's private folder or file: the same answer as an id that does not exist.
    for address in (f"/files/item/{folder}", f"/files/item/{item}", f"/files/item/{item}/download"):
        refused = sam.get(address)
        assert refused.status_code == 404, address
        assert "liste-surprise" not in refused.text and "Cadeaux" not in refused.text
        assert without_tokens(refused.text) == without_tokens(
            unknown.text.replace("/files/item/999999", address)
        )
    sneaked = sam.put(
        f"/files/item/{folder}/upload",
        content=b"x",
        headers={**csrf_header(sam), "X-File-Name": "intrus.txt"},
    )
    assert sneaked.status_code == 404
    assert sam.get(f"/files/item/{menu}/download").content == b"pasta"  # the household's

    # Shared with Sam: readable by id, read-only, and nothing above what was shared.
    share = alex.post(
        "/files/share",
        data={"space": "mine", "path": "Cadeaux/liste-surprise.txt", "with": "sam"},
        headers=header,
    )
    assert share.status_code == 303
    page = sam.get(f"/files/item/{item}")
    assert page.status_code == 200 and 'action="/files/move"' not in page.text
    assert f'href="/files/item/{folder}"' not in page.text  # the owner's folder stays out
    assert sam.get(f"/files/item/{item}/download").content == b"secret"
    assert sam.get(f"/files/item/{folder}").status_code == 404
    written = sam.put(
        f"/files/item/{item}/upload",
        content=b"x",
        headers={**csrf_header(sam), "X-File-Name": "a.txt"},
    )
    assert written.status_code == 403

    # In the trash (itself, or a folder above it): gone from every address by id.
    alex.delete("/api/files/mine/Cadeaux", headers=header)
    assert alex.get(f"/files/item/{item}").status_code == 404
    assert alex.get(f"/files/item/{folder}/download").status_code == 404

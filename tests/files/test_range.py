"""A Range a door cannot serve gets one sentence in the node's shape: 400 when it cannot be
read, 416 with `Content-Range: bytes */SIZE` when it starts past the end (RFC 9110); a unit
other than bytes is ignored, and ranges past the end are left out when another can be served.
The JSON API, the pages' download, and the WebDAV door of a served node (real HTTP)."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hameau.accounts import members, tokens
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.e2e.served import serve
from tests.files.test_http import token
from tests.helpers import add_member, browser, log_in, make_node

DATA = bytes(range(100))
UNREADABLE = ("bytes=abc", "bytes=5-2", "bytes=", "bytes=0-1,9-5")
PAST_THE_END = ("bytes=100-", "bytes=500-600", "bytes=-0")
SERVED = {  # a Range that can be served (in part): status, bytes
    "bytes=0-1": (206, DATA[0:2]),
    "bytes=-3": (206, DATA[97:]),
    "bytes=98-500": (206, DATA[98:]),
    "bytes=500-600,0-1": (206, DATA[0:2]),  # the range past the end is left out
    "bytes=0-1,x": (206, DATA[0:2]),  # and so is a part that is not a range
    "items=0-1": (200, DATA),  # an unknown unit is ignored
    "": (200, DATA),
}


def test_the_api_refuses_a_range_it_cannot_serve_with_a_sentence(node: Node) -> None:
    add_member(node, "alex")
    client, auth = browser(node), token(node, "alex")
    client.put("/api/files/mine/a.bin", content=DATA, headers=auth)
    for asked in UNREADABLE:
        answer = client.get("/api/files/mine/a.bin", headers={**auth, "Range": asked})
        assert answer.status_code == 400, asked
        assert answer.json() == {
            "error": "Cet en-tête Range est illisible ; demandez des octets, comme dans"
            " « bytes=0-99 ».",
            "status": 400,
        }
    for asked in PAST_THE_END:
        answer = client.get(
            "/api/files/mine/a.bin", headers={**auth, "Range": asked, "Accept-Language": "fr"}
        )
        assert answer.status_code == 416, asked
        assert answer.headers["content-range"] == "bytes */100"
        assert answer.json()["error"] == (
            "Cette plage commence après la fin du fichier, qui fait 100 octets."
        )
    for asked, (status, body) in SERVED.items():
        answer = client.get("/api/files/mine/a.bin", headers={**auth, "Range": asked})
        assert (answer.status_code, answer.content) == (status, body), asked
    # A Range for an older version of the file (If-Range no longer matches): the whole file.
    stale = client.get(
        "/api/files/mine/a.bin", headers={**auth, "Range": "bytes=500-", "If-Range": '"old"'}
    )
    assert (stale.status_code, stale.content) == (200, DATA)


def test_the_pages_download_refuses_it_with_the_error_page(node: Node) -> None:
    add_member(node, "alex")
    browser(node).put("/api/files/mine/a.bin", content=DATA, headers=token(node, "alex"))
    client = browser(node)
    log_in(client, "alex")
    with transaction(node.sessions) as session:
        from hameau.files import service as files

        owner = members.find_member(session, "alex")
        item = files.locate(session, owner, "mine", "a.bin")[1].id
    answer = client.get(
        f"/files/item/{item}/download", headers={"Range": "bytes=200-", "Accept": "text/html"}
    )
    assert answer.status_code == 416 and answer.headers["content-range"] == "bytes */100"
    assert "text/html" in answer.headers["content-type"]
    assert "Cette plage commence après la fin du fichier, qui fait 100 octets." in answer.text
    unreadable = client.get(f"/files/item/{item}/download", headers={"Range": "bytes=9-1"})
    assert unreadable.status_code == 400 and "Cet en-tête Range est illisible" in unreadable.text


@pytest.mark.e2e
def test_the_webdav_door_refuses_it_with_a_sentence_never_a_wrong_part(tmp_path: Path) -> None:
    root = tmp_path / "node"
    made = make_node(root)
    add_member(made, "alex")
    with transaction(made.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "t")[1]
    made.close()
    basic = "Basic " + base64.b64encode(f"alex:{secret}".encode()).decode()

    def get(node_url: str, asked: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            f"{node_url}/dav/files/mine/a.bin", method=method,
            headers={"Authorization": basic, "Range": asked, "Accept-Language": "fr"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, dict(refused.headers), refused.read()

    with serve(root) as node:
        put = urllib.request.Request(
            f"{node.url}/dav/files/mine/a.bin", data=DATA, method="PUT",
            headers={"Authorization": basic},
        )  # fmt: skip
        urllib.request.urlopen(put, timeout=20).close()
        for asked in UNREADABLE:
            status, _, body = get(node.url, asked)
            assert status == 400, asked
            assert "Cet en-tête Range est illisible" in body.decode(), asked
        for asked in PAST_THE_END:
            status, headers, body = get(node.url, asked)
            assert status == 416 and headers["content-range"] == "bytes */100", asked
            assert "qui fait 100 octets" in body.decode(), asked
        for asked, (status, content) in SERVED.items():
            assert get(node.url, asked)[::2] == (status, content), asked
        assert get(node.url, "bytes=500-", "HEAD")[0] == 416
        assert "Traceback" not in node.output()

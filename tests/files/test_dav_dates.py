"""A conditional date WebDAV cannot read is ignored (RFC 9110, 13.1.3 and 13.1.4), never a
500: WsgiDAV's parser raised on a year past 9999, for every method of the door."""

from __future__ import annotations

import base64

from hameau.accounts import members, tokens
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser

BROKEN = "Mon, 01 Jan 99999 00:00:00 GMT"


def test_a_date_past_year_9999_in_a_condition_is_ignored(node: Node) -> None:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "t")[1]
    auth = {"Authorization": "Basic " + base64.b64encode(f"alex:{secret}".encode()).decode()}
    client = browser(node)
    url = "/dav/files/mine/a.txt"
    assert client.put(url, content=b"first", headers=auth).status_code == 201
    for header in ("If-Modified-Since", "If-Unmodified-Since"):
        asked = {**auth, header: BROKEN}
        assert client.get(url, headers=asked).content == b"first", header
        assert client.head(url, headers=asked).status_code == 200, header
        assert client.request("PROPFIND", url, headers={**asked, "Depth": "0"}).status_code == 207
        assert client.put(url, content=b"second", headers=asked).status_code == 204, header
        assert client.get(url, headers=auth).content == b"second"
        assert client.put(url, content=b"first", headers=auth).status_code == 204
    assert client.delete(url, headers={**auth, "If-Unmodified-Since": BROKEN}).status_code == 204
    assert client.get(url, headers=auth).status_code == 404

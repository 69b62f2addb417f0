"""WebDAV dead properties (PROPPATCH, PROPFIND) as a client sees them: a PROPPATCH makes all
its changes or none (RFC 4918, 9.2), a file holds a bounded number of them, and a listing
reads them with its entries rather than one query per property and file."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event, update

from hameau.accounts.models import Member
from hameau.files.dav_props import MAX_NAME, MAX_PROPERTIES, MAX_VALUE
from hameau.files.models import DavProperty
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.files.test_http import token
from tests.helpers import add_member, browser

MS = "urn:schemas-microsoft-com:"


def patch(props: dict[str, str | None], namespace: str = "urn:z") -> bytes:
    """A PROPPATCH body: the properties given a text set, then those given None removed."""
    sets = "".join(f"<Z:{name}>{text}</Z:{name}>" for name, text in props.items() if text)
    removes = "".join(f"<Z:{name}/>" for name, text in props.items() if text is None)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:"'
        f' xmlns:Z="{namespace}">'
        + (f"<D:set><D:prop>{sets}</D:prop></D:set>" if sets else "")
        + (f"<D:remove><D:prop>{removes}</D:prop></D:remove>" if removes else "")
        + "</D:propertyupdate>"
    ).encode()


def statuses(answer: Any) -> set[str]:
    """The statuses of a 207's properties (WsgiDAV groups the properties by status)."""
    assert answer.status_code == 207, answer.text
    return set(re.findall(r"HTTP/1.1 (\d+)", answer.text))


def stored(node: Node) -> dict[str, str]:
    """Each property recorded, by its local name, with its text."""
    with transaction(node.sessions) as session:
        rows = session.query(DavProperty.name, DavProperty.value).all()
        return {
            name.split("}")[1]: value.split(b">")[-2].split(b"<")[0].decode()
            for name, value in rows
        }


def dav_client(node: Node) -> tuple[Any, dict[str, Any]]:
    add_member(node, "alex")
    secret = token(node, "alex")["Authorization"].split()[1]
    client, dav = browser(node), {"auth": ("alex", secret)}
    assert client.put("/dav/files/mine/a.txt", content=b"a", **dav).status_code == 201
    return client, dav


def test_a_proppatch_past_the_quota_records_none_of_its_changes(node: Node) -> None:
    client, dav = dav_client(node)
    first = client.request(
        "PROPPATCH", "/dav/files/mine/a.txt", content=patch({"k": "kept"}), **dav
    )
    assert statuses(first) == {"200"}
    with transaction(node.sessions) as session:  # room for two of the three values below
        session.execute(update(Member).values(quota_bytes=2600))
    value = "v" * 1000
    answer = client.request(
        "PROPPATCH",
        "/dav/files/mine/a.txt",
        content=patch({"one": value, "two": value, "three": value, "k": None}),
        **dav,
    )
    # Each change fits alone; together they do not: none is made, not the first two.
    assert statuses(answer) == {"507"}
    assert "Not enough room in your quota" in answer.text
    assert stored(node) == {"k": "kept"}
    fits = client.request(
        "PROPPATCH", "/dav/files/mine/a.txt", content=patch({"one": value, "k": None}), **dav
    )
    assert statuses(fits) == {"200"}
    assert set(stored(node)) == {"one"}


def test_a_file_holds_a_bounded_number_of_properties_and_a_flood_records_nothing(
    node: Node,
) -> None:
    client, dav = dav_client(node)
    flood = {f"q{number}": "x" for number in range(20_000)}  # about 400 kB of body
    answer = client.request("PROPPATCH", "/dav/files/mine/a.txt", content=patch(flood), **dav)
    assert statuses(answer) == {"507"}  # all of them: the request is refused whole
    assert f"at most {MAX_PROPERTIES} WebDAV properties" in answer.text
    assert stored(node) == {}
    full = {f"p{number}": str(number) for number in range(MAX_PROPERTIES)}
    answer = client.request("PROPPATCH", "/dav/files/mine/a.txt", content=patch(full), **dav)
    assert statuses(answer) == {"200"}
    one_more = client.request(
        "PROPPATCH", "/dav/files/mine/a.txt", content=patch({"extra": "1"}), **dav
    )
    assert statuses(one_more) == {"507"}
    swapped = client.request(  # one out, one in, and a value changed: the count holds
        "PROPPATCH",
        "/dav/files/mine/a.txt",
        content=patch({"p0": None, "extra": "1", "p1": "changed"}),
        **dav,
    )
    assert statuses(swapped) == {"200"}
    found = stored(node)
    assert len(found) == MAX_PROPERTIES and "p0" not in found and "extra" in found
    assert found["p1"] == "changed"


def test_a_too_long_name_or_value_is_refused_in_words(node: Node) -> None:
    client, dav = dav_client(node)
    long_name = client.request(
        "PROPPATCH",
        "/dav/files/mine/a.txt",
        content=patch({"n": "1"}, namespace="urn:" + "z" * MAX_NAME),
        **dav,
    )
    assert statuses(long_name) == {"403"}
    assert f"at most {MAX_NAME} characters" in long_name.text
    big = client.request(
        "PROPPATCH", "/dav/files/mine/a.txt", content=patch({"big": "b" * MAX_VALUE}), **dav
    )
    assert statuses(big) == {"507"}
    assert "at most 64 KiB" in big.text
    assert stored(node) == {}


def test_a_listing_reads_the_properties_with_its_files(node: Node) -> None:
    """Windows asks for its four Win32 properties of every file of a folder it lists: the
    answer reads them with the listing, not one query per property and file."""
    client, dav = dav_client(node)
    assert client.request("MKCOL", "/dav/files/mine/photos/", **dav).status_code == 201
    for number in range(40):
        path = f"/dav/files/mine/photos/{number}.jpg"
        assert client.put(path, content=b"jpg", **dav).status_code == 201
        if number % 2 == 0:  # Windows sets them after a copy; half the files here
            body = patch({"Win32CreationTime": f"day {number}"}, namespace=MS)
            assert statuses(client.request("PROPPATCH", path, content=body, **dav)) == {"200"}
    large = patch({"Win32FileAttributes": "0" * 5000}, namespace=MS)  # read when asked
    assert statuses(client.request("PROPPATCH", "/dav/files/mine/photos/0.jpg", content=large,
                                   **dav)) == {"200"}  # fmt: skip
    asked = (
        f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="{MS}"><D:prop>'
        "<D:getcontentlength/><Z:Win32CreationTime/><Z:Win32FileAttributes/>"
        "<Z:Win32LastAccessTime/></D:prop></D:propfind>"
    )
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(node.engine, "before_cursor_execute", count)
    try:
        answer = client.request(
            "PROPFIND", "/dav/files/mine/photos/", content=asked,
            headers={"Depth": "1"}, **dav,
        )  # fmt: skip
    finally:
        event.remove(node.engine, "before_cursor_execute", count)
    assert answer.status_code == 207
    for number in range(0, 40, 2):
        assert f"day {number}</" in answer.text
    assert "0" * 5000 in answer.text
    read = [s for s in statements if "dav_properties" in s]
    assert len(read) <= 3, read  # the listing's batch, the folder's own, the large value


def test_a_member_a_file_is_shared_with_cannot_change_its_properties(node: Node) -> None:
    from hameau.accounts import members
    from hameau.files import service as files
    from hameau.files import shares

    client, _alex = dav_client(node)
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        alex, sam = (members.find_member(session, name) for name in ("alex", "sam"))
        shares.share(session, alex, files.locate(session, alex, "mine", "a.txt")[1], sam)
    secret = token(node, "sam")["Authorization"].split()[1]
    shared = client.request("PROPFIND", "/dav/files/shared/a.txt", headers={"Depth": "0"},
                            auth=("sam", secret))  # fmt: skip
    assert shared.status_code == 207  # sam sees it, read-only
    refused = client.request("PROPPATCH", "/dav/files/shared/a.txt",
                             content=patch({"k": "sam's"}), auth=("sam", secret))  # fmt: skip
    assert statuses(refused) == {"403"}
    assert stored(node) == {}

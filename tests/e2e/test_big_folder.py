"""A folder of thousands of files through a real `hameau serve`: rclone lists every name once
from the streamed PROPFIND, which comes in HTTP/1.1 chunks on a connection that stays open,
and the JSON API's pages, followed by their `next`, give the same names."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
from base64 import b64encode
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from hameau.accounts import members, tokens
from hameau.files import service as files
from hameau.node.db import transaction
from tests.e2e.served import Served, serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e
COUNT = 2000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str, list[str]]]:
    if shutil.which("rclone") is None:
        pytest.fail("rclone is missing: install Debian's rclone (.ci/run does).")
    root = tmp_path_factory.mktemp("big") / "node"
    node = make_node(root)
    add_member(node, "alex")
    digest = node.blobs.put(b"a photo")
    names = sorted(f"IMG_{n:05}.jpg" if n % 2 else f"img_{n:05}.jpg" for n in range(COUNT))
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        where = files.space(member, "mine")
        files.make_folder(session, member, where, ["Photos"])
        for name in names:
            plan = files.plan_write(session, member, where, ["Photos", name])
            files.record_write(session, plan, member, digest, 7)
        secret = tokens.create_token(session, member, "test")[1]
    node.close()
    with serve(root) as served:
        yield served, secret, names


def test_rclone_lists_every_name_of_a_big_folder_once(big) -> None:  # type: ignore[no-untyped-def]
    served, secret, names = big
    obscured = subprocess.run(["rclone", "obscure", secret], capture_output=True, text=True)
    listed = subprocess.run(
        ["rclone", "lsf", ":webdav:mine/Photos", "--webdav-url", f"{served.url}/dav/files",
         "--webdav-user", "alex", "--webdav-pass", obscured.stdout.strip(), "--config", "/dev/null"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    found = listed.stdout.splitlines()
    assert len(found) == len(set(found)) == COUNT
    assert set(found) == set(names)


def test_propfind_streams_in_chunks_and_keeps_the_connection(big) -> None:  # type: ignore[no-untyped-def]
    served, secret, _names = big
    address = urlsplit(served.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=60)
    basic = {"Authorization": "Basic " + b64encode(f"alex:{secret}".encode()).decode()}
    connection.request("PROPFIND", "/dav/files/mine/Photos/", headers={**basic, "Depth": "1"})
    answer = connection.getresponse()
    body = answer.read()
    assert answer.status == 207
    assert answer.getheader("Transfer-Encoding") == "chunked"
    assert answer.getheader("Connection") != "close"
    assert body.count(b"<D:response") == COUNT + 1
    socket = connection.sock
    connection.request("GET", "/api/files/mine/Photos/?limit=999", headers=basic)
    again = connection.getresponse()
    assert again.status == 200 and connection.sock is socket  # the same connection
    page = json.loads(again.read())
    seen = [entry["name"] for entry in page["entries"]]
    while page["next"]:
        connection.request("GET", page["next"], headers=basic)
        page = json.loads(connection.getresponse().read())
        seen += [entry["name"] for entry in page["entries"]]
    assert seen == sorted(_names, key=str.lower)

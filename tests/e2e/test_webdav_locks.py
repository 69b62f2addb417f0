"""WebDAV locks and dead properties against a real `hameau serve`, as the clients that lock
before they write (davfs2, Finder, Explorer, LibreOffice) and Windows' PROPPATCH use them."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import Served, serve
from tests.helpers import add_member, make_node, node_for_clients

pytestmark = pytest.mark.e2e

LOCKINFO = (
    b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"<D:owner>%s</D:owner></D:lockinfo>"
)
WIN_PROP = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
    b'xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>'
    b"<Z:Win32FileAttributes>%s</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"
)
PROPFIND_ALL = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    root = tmp_path_factory.mktemp("davlocks") / "node"
    node = make_node(root)
    secrets = {}
    for name in ("alex", "sam", "tiny"):
        add_member(node, name)
        with transaction(node.sessions) as session:
            member = members.find_member(session, name)
            if name == "tiny":
                member.quota_bytes = 2000
            secrets[name] = tokens.create_token(session, member, "test")[1]
    node.close()
    with serve(root) as served:
        yield served, secrets


class Dav:
    """One member's WebDAV client: each call returns (status, headers, body)."""

    def __init__(self, served: Served, who: str, secret: str) -> None:
        self.served, self.who = served, who
        self.auth = "Basic " + b64encode(f"{who}:{secret}".encode()).decode()

    def __call__(
        self, method: str, path: str, body: bytes = b"", **headers: str
    ) -> tuple[int, Message, bytes]:
        request = urllib.request.Request(
            self.served.url + "/dav/files" + path,
            data=body or None,
            method=method,
            headers={
                "Authorization": self.auth,
                **{k.replace("_", "-"): v for k, v in headers.items()},
            },
        )
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def lock(self, path: str, **headers: str) -> tuple[int, str, bytes]:
        owner = f"{self.who}'s laptop".encode()
        status, answer, body = self("LOCK", path, LOCKINFO % owner, Timeout="Second-600", **headers)
        return status, answer.get("Lock-Token", "").strip("<>"), body

    def get(self, path: str) -> tuple[int, bytes]:
        status, _headers, body = self("GET", path)
        return status, body


def clients(home: tuple[Served, dict[str, str]]) -> tuple[Dav, Dav]:
    served, secrets = home
    return Dav(served, "alex", secrets["alex"]), Dav(served, "sam", secrets["sam"])


def test_lock_on_a_new_url_makes_an_empty_file_that_the_lock_holder_then_writes(home) -> None:  # type: ignore[no-untyped-def]
    alex, _sam = clients(home)
    status, token, body = alex.lock("/mine/new.odt")
    assert status == 201 and token.startswith("opaquelocktoken:"), body
    assert b"/dav/files/mine/new.odt" in body and b"laptop" in body
    assert alex.get("/mine/new.odt") == (200, b"")  # RFC 4918 9.10.4: an empty resource

    assert alex("PUT", "/mine/new.odt", b"without the token")[0] == 423
    assert alex("PUT", "/mine/new.odt", b"letter", If=f"(<{token}>)")[0] in (200, 204)
    assert alex("UNLOCK", "/mine/new.odt", Lock_Token=f"<{token}>")[0] == 204
    assert alex("PUT", "/mine/new.odt", b"letter, v2")[0] in (200, 204)  # no lock left
    assert alex.get("/mine/new.odt") == (200, b"letter, v2")


def test_a_lock_that_fails_leaves_neither_lock_nor_file(home) -> None:  # type: ignore[no-untyped-def]
    alex, sam = clients(home)
    assert alex("MKCOL", "/household/box/")[0] == 201
    status, token, _ = alex.lock("/household/box/", Depth="0")
    assert status == 200
    # Sam cannot add to a folder alex locked: refused, and nothing made or recorded.
    assert sam.lock("/household/box/sam.txt")[0] == 423
    assert sam.lock("/mine/nowhere/x.txt")[0] == 409  # no such folder
    assert sam("LOCK", "/mine/bad.txt", b"<not-a-lockinfo/>")[0] == 400
    assert alex("UNLOCK", "/household/box/", Lock_Token=f"<{token}>")[0] == 204
    assert sam.get("/household/box/sam.txt")[0] == 404
    # Alex may add to a folder he locked deep, but a second lock inside it conflicts: the
    # empty file that LOCK made on its way is taken back with the refusal.
    status, token, _ = alex.lock("/household/box/", Depth="infinity")
    assert status == 200
    assert alex.lock("/household/box/alex.txt", If=f"(<{token}>)")[0] == 423
    assert alex.get("/household/box/alex.txt")[0] == 404
    assert alex("UNLOCK", "/household/box/", Lock_Token=f"<{token}>")[0] == 204
    assert sam("PUT", "/household/box/sam.txt", b"now it works")[0] == 201
    assert sam("MKCOL", "/mine/nowhere/")[0] == 201
    assert sam("PUT", "/mine/nowhere/x.txt", b"here too")[0] == 201
    assert sam("PUT", "/mine/bad.txt", b"and here")[0] == 201


def test_locks_belong_to_each_members_own_file(home) -> None:  # type: ignore[no-untyped-def]
    alex, sam = clients(home)
    for member in (alex, sam):
        assert member("PUT", "/mine/same.txt", member.who.encode())[0] == 201
    status, alex_token, _ = alex.lock("/mine/same.txt")
    assert status == 200
    # Sam's own same.txt shows no lock of alex's, and takes sam's writes.
    _status, _headers, listing = sam("PROPFIND", "/mine/same.txt", PROPFIND_ALL, Depth="0")
    assert b"alex" not in listing and alex_token.encode() not in listing
    assert sam("PUT", "/mine/same.txt", b"sam, again")[0] == 204
    # Sam locking his whole space, for ever deep, blocks nobody else.
    status, sam_token, _ = sam.lock("/mine/", Depth="infinity")
    assert status == 200
    assert alex("PUT", "/mine/other.txt", b"alex writes on")[0] == 201
    assert sam("PUT", "/mine/other.txt", b"sam is held by his own lock")[0] == 423
    # Alex's lock still protects alex's file; the household's files are one for all.
    assert alex("PUT", "/mine/same.txt", b"no token")[0] == 423
    assert alex("PUT", "/household/common.txt", b"ours")[0] == 201
    status, common_token, _ = alex.lock("/household/common.txt")
    assert sam("PUT", "/household/common.txt", b"sam's change")[0] == 423
    for member, path, token in (
        (alex, "/mine/same.txt", alex_token),
        (sam, "/mine/", sam_token),
        (alex, "/household/common.txt", common_token),
    ):
        assert member("UNLOCK", path, Lock_Token=f"<{token}>")[0] == 204


def test_deleting_or_moving_a_locked_file_takes_its_lock_away(home) -> None:  # type: ignore[no-untyped-def]
    alex, _sam = clients(home)
    assert alex("PUT", "/mine/gone.txt", b"1")[0] == 201
    _status, token, _ = alex.lock("/mine/gone.txt")
    assert alex("DELETE", "/mine/gone.txt", If=f"(<{token}>)")[0] == 204
    assert alex("PUT", "/mine/gone.txt", b"a new file, no lock")[0] == 201

    _status, token, _ = alex.lock("/mine/gone.txt")
    moved = alex(
        "MOVE", "/mine/gone.txt", If=f"(<{token}>)",
        Destination=f"{alex.served.url}/dav/files/mine/moved.txt",
    )  # fmt: skip
    assert moved[0] == 201
    assert alex("PUT", "/mine/moved.txt", b"free")[0] == 204
    assert alex("PUT", "/mine/gone.txt", b"free too")[0] == 201


def test_locks_survive_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "node"
    secret = node_for_clients(root, "alex")
    with serve(root) as served:
        alex = Dav(served, "alex", secret)
        status, token, _ = alex.lock("/mine/report.odt")
        assert status == 201
    with serve(root) as served:
        alex = Dav(served, "alex", secret)
        assert alex("PUT", "/mine/report.odt", b"someone else")[0] == 423
        assert alex("PUT", "/mine/report.odt", b"the holder", If=f"(<{token}>)")[0] == 204
        assert alex("UNLOCK", "/mine/report.odt", Lock_Token=f"<{token}>")[0] == 204


def prop_of(client: Dav, path: str) -> bytes | None:
    _status, _headers, body = client("PROPFIND", path, PROPFIND_ALL, Depth="0")
    found = re.search(rb"Win32FileAttributes[^>]*>([^<]*)<", body)
    return found.group(1) if found else None


def test_dead_properties_follow_the_file(home) -> None:  # type: ignore[no-untyped-def]
    alex, sam = clients(home)
    assert alex("PUT", "/mine/photo.jpg", b"jpeg")[0] == 201
    status, _headers, body = alex("PROPPATCH", "/mine/photo.jpg", WIN_PROP % b"00000020")
    assert status == 207 and b"200 OK" in body, body
    assert prop_of(alex, "/mine/photo.jpg") == b"00000020"
    assert sam("PUT", "/mine/photo.jpg", b"sam's")[0] == 201
    assert prop_of(sam, "/mine/photo.jpg") is None  # another member's file of that name

    destination = f"{alex.served.url}/dav/files/mine/"
    assert alex("COPY", "/mine/photo.jpg", Destination=destination + "copy.jpg")[0] == 201
    assert alex("MOVE", "/mine/photo.jpg", Destination=destination + "moved.jpg")[0] == 201
    assert prop_of(alex, "/mine/copy.jpg") == b"00000020"
    assert prop_of(alex, "/mine/moved.jpg") == b"00000020"

    assert alex("DELETE", "/mine/moved.jpg")[0] == 204
    assert alex("PUT", "/mine/moved.jpg", b"another file")[0] == 201
    assert prop_of(alex, "/mine/moved.jpg") is None


def test_dead_properties_count_in_the_quota(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    tiny = Dav(served, "tiny", secrets["tiny"])  # a quota of 2,000 bytes
    assert tiny("PUT", "/mine/small.txt", b"x" * 500)[0] == 201
    status, _headers, body = tiny("PROPPATCH", "/mine/small.txt", WIN_PROP % (b"7" * 1200))
    assert status == 207 and b"200 OK" in body, body
    assert tiny("PUT", "/mine/more.txt", b"y" * 500)[0] == 507  # 500 + 1,200 + 500 > 2,000
    status, _headers, body = tiny("PROPPATCH", "/mine/small.txt", WIN_PROP % (b"8" * 2500))
    assert status == 207 and b"507" in body, body
    assert prop_of(tiny, "/mine/small.txt") == b"7" * 1200  # the refused change left it be


def test_a_folder_listing_shows_its_files_locks_and_properties(home) -> None:  # type: ignore[no-untyped-def]
    alex, sam = clients(home)
    assert alex("MKCOL", "/mine/album/")[0] == 201
    for name in ("one.jpg", "two.jpg"):
        assert alex("PUT", f"/mine/album/{name}", b"jpeg")[0] == 201
    assert alex("PROPPATCH", "/mine/album/one.jpg", WIN_PROP % b"00000001")[0] == 207
    _status, token, _ = alex.lock("/mine/album/two.jpg")
    _status, _headers, listing = alex("PROPFIND", "/mine/album/", PROPFIND_ALL, Depth="1")
    responses = {
        name: part
        for part in listing.split(b"</D:response>")
        for name in (b"one.jpg", b"two.jpg")
        if b"<D:href>/dav/files/mine/album/" + name in part
    }
    assert b"00000001" in responses[b"one.jpg"] and b"activelock" not in responses[b"one.jpg"]
    assert token.encode() in responses[b"two.jpg"] and b"00000001" not in responses[b"two.jpg"]
    assert sam("MKCOL", "/mine/album/")[0] == 201
    assert sam("PUT", "/mine/album/two.jpg", b"sam's")[0] == 201
    _status, _headers, listing = sam("PROPFIND", "/mine/album/", PROPFIND_ALL, Depth="1")
    assert token.encode() not in listing and b"activelock" not in listing
    assert alex("UNLOCK", "/mine/album/two.jpg", Lock_Token=f"<{token}>")[0] == 204

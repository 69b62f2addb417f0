"""A WebDAV PUT, served past WsgiDAV (files/dav_put.py), against a real `hameau serve`: locks,
conditions, a body cut short, the quota, other members' files and paths that try to climb
out all answer as WsgiDAV answered them, and leave what was there as it was."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator

import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import Served, serve
from tests.e2e.test_webdav import raw_put, wait_for
from tests.e2e.test_webdav_locks import Dav
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    root = tmp_path_factory.mktemp("davput") / "node"
    node = make_node(root)
    secrets = {}
    for name in ("alex", "sam", "tiny"):
        add_member(node, name)
        with transaction(node.sessions) as session:
            member = members.find_member(session, name)
            if name == "tiny":
                member.quota_bytes = 4000
            secrets[name] = tokens.create_token(session, member, "test")[1]
    node.close()
    with serve(root) as served:
        yield served, secrets


def client(home: tuple[Served, dict[str, str]], who: str) -> Dav:
    served, secrets = home
    return Dav(served, who, secrets[who])


def temp_files(served: Served) -> list[str]:
    return [path.name for path in (served.data_dir / "blobs" / "tmp").iterdir()]


def answer_of(connection: socket.socket) -> bytes:
    connection.settimeout(10)
    try:
        return connection.recv(4096)
    finally:
        connection.close()


def test_a_put_answers_201_then_204_with_its_content_hash_as_etag(home) -> None:  # type: ignore[no-untyped-def]
    alex = client(home, "alex")
    status, headers, _ = alex("PUT", "/mine/note.txt", b"first")
    assert status == 201 and headers["ETag"] == f'"{hashlib.sha256(b"first").hexdigest()}"'
    status, headers, body = alex("PUT", "/mine/note.txt", b"second", Content_Type="text/plain")
    assert (status, body) == (204, b"")
    assert headers["ETag"] == f'"{hashlib.sha256(b"second").hexdigest()}"'
    assert alex.get("/mine/note.txt") == (200, b"second")
    assert alex("PUT", "/mine/empty.txt")[0] == 201
    assert alex.get("/mine/empty.txt") == (200, b"")


def test_a_locked_file_or_folder_is_not_written_without_its_token(home) -> None:  # type: ignore[no-untyped-def]
    alex, sam = client(home, "alex"), client(home, "sam")
    assert alex("PUT", "/household/plan.txt", b"before")[0] == 201
    status, token, _ = alex.lock("/household/plan.txt")
    assert status == 200
    for who in (alex, sam):  # even its holder, without the token in `If:`
        status, _headers, body = who("PUT", "/household/plan.txt", b"overwritten")
        assert status == 423 and b"no-conflicting-lock" in body
    assert alex.get("/household/plan.txt") == (200, b"before")
    assert alex("PUT", "/household/plan.txt", b"after", If=f"(<{token}>)")[0] == 204
    assert alex("UNLOCK", "/household/plan.txt", Lock_Token=f"<{token}>")[0] == 204
    # A folder locked (depth 0 or infinity): no new file in it without the token.
    assert alex("MKCOL", "/household/locked/")[0] == 201
    for depth in ("0", "infinity"):
        status, token, _ = alex.lock("/household/locked/", Depth=depth)
        assert status == 200
        assert sam("PUT", "/household/locked/new.txt", b"x")[0] == 423
        assert sam.get("/household/locked/new.txt")[0] == 404
        assert alex("UNLOCK", "/household/locked/", Lock_Token=f"<{token}>")[0] == 204
    assert sam("PUT", "/household/locked/new.txt", b"x")[0] == 201


def test_no_lock_is_granted_on_a_file_while_its_body_streams_in(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    alex = client(home, "alex")
    connection = raw_put(served, "/dav/files/mine/slow.bin", secrets["alex"], 2_000_000,
                         os.urandom(1_000_000))  # fmt: skip
    assert wait_for(lambda: bool(temp_files(served)))  # the write had begun
    assert alex.lock("/mine/slow.bin")[0] == 423
    connection.sendall(os.urandom(1_000_000))
    assert answer_of(connection).startswith(b"HTTP/1.1 201")
    status, token, _ = alex.lock("/mine/slow.bin")
    assert status == 200
    assert alex("UNLOCK", "/mine/slow.bin", Lock_Token=f"<{token}>")[0] == 204


def test_if_match_and_if_none_match_are_judged_before_any_byte_is_kept(home) -> None:  # type: ignore[no-untyped-def]
    alex = client(home, "alex")
    _status, headers, _ = alex("PUT", "/mine/cond.txt", b"one")
    etag = headers["ETag"]
    assert alex("PUT", "/mine/cond.txt", b"two", If_Match='"not-it"')[0] == 412
    assert alex("PUT", "/mine/cond.txt", b"two", If_None_Match="*")[0] == 412
    assert alex.get("/mine/cond.txt") == (200, b"one")
    assert alex("PUT", "/mine/cond.txt", b"two", If_Match=etag)[0] == 204
    assert alex("PUT", "/mine/cond-new.txt", b"new", If_None_Match="*")[0] == 201
    assert alex.get("/mine/cond.txt") == (200, b"two")


@pytest.mark.parametrize("condition", ["If-Match", "If-None-Match"])
def test_a_conditional_put_lands_only_on_what_its_condition_was_judged_on(home, condition) -> None:  # type: ignore[no-untyped-def]
    """A conditional PUT's condition holds when its body starts; another write lands while
    the body streams in: the conditional one is then refused (412) and saves nothing over
    it, whatever the order (the condition is checked again with the write, under its lock)."""
    served, secrets = home
    alex = client(home, "alex")
    path = f"/mine/race-{condition}.bin"
    header = "If-None-Match: *"
    if condition == "If-Match":
        _status, headers, _ = alex("PUT", path, b"first")
        header = f"If-Match: {headers['ETag']}"
    connection = raw_put(served, f"/dav/files{path}", secrets["alex"], 2_000_000,
                         os.urandom(1_000_000), more=header + "\r\n")  # fmt: skip
    assert wait_for(lambda: bool(temp_files(served)))  # judged, and the body streams in
    assert alex("PUT", path, b"landed meanwhile")[0] in (201, 204)
    connection.sendall(os.urandom(1_000_000))
    assert answer_of(connection).startswith(b"HTTP/1.1 412")
    assert alex.get(path) == (200, b"landed meanwhile")
    assert wait_for(lambda: not temp_files(served))


def test_a_conditional_put_of_a_small_new_file_is_judged_too(home) -> None:  # type: ignore[no-untyped-def]
    alex = client(home, "alex")
    assert alex("PUT", "/mine/small-cond.txt", b"x", If_Match='"not-it"')[0] == 412
    assert alex.get("/mine/small-cond.txt")[0] == 404


def test_a_body_cut_short_keeps_nothing_and_leaves_the_file_as_it_was(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    alex = client(home, "alex")
    assert alex("PUT", "/mine/kept.bin", b"previous content")[0] == 201
    connection = raw_put(served, "/dav/files/mine/kept.bin", secrets["alex"], 4_000_000,
                         os.urandom(1_000_000))  # fmt: skip
    assert wait_for(lambda: bool(temp_files(served)))
    connection.close()
    assert wait_for(lambda: not temp_files(served))
    assert alex.get("/mine/kept.bin") == (200, b"previous content")
    # Shorter than it said, then the end of the request: refused, and nothing kept either.
    connection = raw_put(served, "/dav/files/mine/kept.bin", secrets["alex"], 100, b"x" * 10)
    connection.shutdown(socket.SHUT_WR)
    assert wait_for(lambda: not temp_files(served))
    connection.close()
    assert alex.get("/mine/kept.bin") == (200, b"previous content")


def test_over_the_quota_nothing_is_kept_and_a_huge_size_is_refused_unread(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    tiny = client(home, "tiny")
    assert tiny("PUT", "/mine/small.txt", b"s" * 1000)[0] == 201
    status, _headers, body = tiny("PUT", "/mine/big.bin", os.urandom(5000))
    assert status == 507 and b"quota" in body
    assert tiny.get("/mine/big.bin")[0] == 404
    assert tiny("PUT", "/mine/small.txt", os.urandom(5000))[0] == 507
    assert tiny.get("/mine/small.txt") == (200, b"s" * 1000)
    assert not temp_files(served)
    # Sent without a length (chunked): refused once the quota is passed, nothing kept.
    port = int(served.url.rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port))
    chunk = os.urandom(3000)
    connection.sendall(
        f"PUT /dav/files/mine/chunked.bin HTTP/1.1\r\nHost: x\r\nAuthorization: {tiny.auth}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
        + b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2
        + b"0\r\n\r\n"
    )
    assert answer_of(connection).startswith(b"HTTP/1.1 507")
    assert tiny.get("/mine/chunked.bin")[0] == 404
    # A declared size beyond the quota is refused before a byte of the body is sent.
    waiting = raw_put(served, "/dav/files/mine/huge.bin", secrets["tiny"], 1 << 40, b"", "tiny")
    assert answer_of(waiting).startswith(b"HTTP/1.1 507")
    assert not temp_files(served)


def test_a_member_writes_only_into_their_own_files(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    alex, sam = client(home, "alex"), client(home, "sam")
    assert alex("PUT", "/mine/private.txt", b"alex only")[0] == 201
    assert sam("PUT", "/mine/private.txt", b"sam's own")[0] == 201  # sam's own space
    assert alex.get("/mine/private.txt") == (200, b"alex only")
    assert sam("PUT", "/shared/private.txt", b"x")[0] == 403
    assert sam("PUT", "/alex/private.txt", b"x")[0] == 409  # no such space: no folder there
    assert sam("PUT", "/private.txt", b"x")[0] == 403
    wrong = Dav(served, "sam", secrets["alex"])  # alex's password with sam's name
    assert wrong("PUT", "/mine/private.txt", b"x")[0] == 401
    assert Dav(served, "alex", "hameau-not-a-password")("PUT", "/mine/p.txt", b"x")[0] == 401
    assert alex.get("/mine/private.txt") == (200, b"alex only")


@pytest.mark.parametrize(
    "path",
    [
        "/dav/files/mine/../household/escape.txt",
        "/dav/files/mine/%2e%2e/household/escape.txt",
        "/dav/files/mine/%2E%2E/%2e%2e/escape.txt",
        "/dav/files/mine/./escape.txt",
        "/dav/files/mine/a%00b",
        "/dav/files/mine/bad%0aname",
        "/dav/files/mine/x%2f..%2f..%2fescape.txt",
        "/dav/files/mine/back%5cslash.txt",
    ],
)
def test_a_path_that_climbs_out_is_refused(home, path: str) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    connection = raw_put(served, path, secrets["alex"], 1, b"x")
    assert answer_of(connection)[9:10] == b"4", path
    household = client(home, "alex")("PROPFIND", "/household/", Depth="1")[2]
    assert b"escape" not in household and b"back" not in household

"""Hostile request bodies against a real `hameau serve`: too large, cut short, XML with
entities; at every door (pages, API, WebDAV, CalDAV), whatever the method."""

from __future__ import annotations

import base64
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import Served, serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e

TWENTY_MB = 20 << 20
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol6;</D:displayname></D:prop></D:propfind>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&xxe;</D:displayname></D:prop></D:propfind>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE D:propfind SYSTEM "http://192.0.2.1/evil.dtd">
<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"""
PROPPATCH = b"""<?xml version="1.0"?>
<!DOCTYPE u [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>&xxe;</D:displayname>
</D:prop></D:set></D:propertyupdate>"""
REPORT = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">]>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>
</D:prop><C:filter><C:comp-filter name="VCALENDAR">&a;&a;&a;&a;</C:comp-filter></C:filter>
</C:calendar-query>"""
PROPFIND = (
    b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str, Path]]:
    root = tmp_path_factory.mktemp("bodies") / "node"
    node = make_node(root)
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "t")[1]
    temp_dir = node.blobs.temp_dir
    node.close()
    basic = "Basic " + base64.b64encode(f"alex:{secret}".encode()).decode()
    with serve(root) as served:
        yield served, basic, temp_dir


def port_of(served: Served) -> int:
    return int(served.url.rsplit(":", 1)[1])


def request(served: Served, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
    """One request over a raw socket; the status of the answer. The body is sent until the
    server stops reading it (it may answer, and close, before the end)."""
    with socket.create_connection(("127.0.0.1", port_of(served)), timeout=60) as connection:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        if body and "Transfer-Encoding" not in headers:
            headers = {"Content-Length": str(len(body)), **headers}
        lines += [f"{name}: {value}" for name, value in headers.items()]
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            for start in range(0, len(body), 1 << 16):
                connection.sendall(body[start : start + (1 << 16)])
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the end of the body: the answer is read below
        return read_status(connection)


def read_status(connection: socket.socket) -> int:
    answer = b""
    while b"\r\n" not in answer:
        chunk = connection.recv(4096)
        if not chunk:
            break
        answer += chunk
    match = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    assert match, answer[:200]
    return int(match.group(1))


def chunked(body: bytes, size: int = 1 << 16) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]  # fmt: skip
    return b"".join(parts) + b"0\r\n\r\n"


def rss_mb(served: Served) -> float:
    status = Path(f"/proc/{served.process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def test_a_twenty_megabyte_propfind_is_refused_at_both_dav_doors(home) -> None:  # type: ignore[no-untyped-def]
    served, basic, _ = home
    doors = ("/dav/files/mine/", "/dav/cal/alex/")
    auth = {"Authorization": basic, "Depth": "0", "Content-Type": "application/xml"}
    for door in doors:  # both doors loaded (WsgiDAV, Radicale) before memory is read
        assert request(served, "PROPFIND", door, auth, PROPFIND) == 207
    before = rss_mb(served)
    huge = b'<D:propfind xmlns:D="DAV:"><D:prop>' + b"<D:getetag/>" * (TWENTY_MB // 12)
    for door in doors:
        assert request(served, "PROPFIND", door, auth, huge) == 413
        streamed = {**auth, "Transfer-Encoding": "chunked"}  # no length said up front
        assert request(served, "PROPFIND", door, streamed, chunked(huge)) == 413
        without_login = {"Depth": "0"}
        assert request(served, "PROPFIND", door, without_login, huge) == 413
    # Refused early: the bodies were never held (before this fix: 90 MB → 660 MB).
    assert rss_mb(served) - before < 16
    for door in doors:
        assert request(served, "PROPFIND", door, auth, PROPFIND) == 207


def test_every_method_is_bounded_outside_file_uploads(home) -> None:  # type: ignore[no-untyped-def]
    served, basic, _ = home
    big = b"x" * (2 << 20)
    for method, path, content_type in (
        ("PUT", "/dav/cal/alex/agenda/big.ics", "text/calendar"),
        ("REPORT", "/dav/cal/alex/agenda/", "text/plain"),
        ("LOCK", "/dav/files/mine/x.txt", "application/octet-stream"),
        ("POST", "/api/files/folders", "text/plain"),
        ("DELETE", "/api/files/mine/x", "application/json"),
        ("POST", "/login", "multipart/form-data; boundary=x"),
    ):
        headers = {"Authorization": basic, "Content-Type": content_type}
        answer = request(served, method, path, headers, big)
        assert answer == 413, (method, path)
    # File content streams past the limit, bounded by the member's quota instead.
    upload = {"Authorization": basic}
    assert request(served, "PUT", "/dav/files/mine/big.bin", upload, big) == 201
    assert request(served, "PUT", "/api/files/mine/big2.bin", upload, big) == 201


@pytest.mark.parametrize("door", ["/dav/cal/alex/", "/dav/files/mine/"])
def test_xml_entity_attacks_get_400_at_both_dav_doors(home, door: str) -> None:  # type: ignore[no-untyped-def]
    served, basic, _ = home
    attacks = [
        ("PROPFIND", LAUGHS),
        ("PROPFIND", EXTERNAL),
        ("PROPFIND", EXTERNAL_DTD),
        ("REPORT", REPORT),
        ("REPORT", LAUGHS),
        ("PROPPATCH", PROPPATCH),
        ("PROPPATCH", LAUGHS),
    ]
    for method, payload in attacks:
        for content_type in ("application/xml", "text/xml; charset=utf-8", ""):
            headers = {"Authorization": basic, "Depth": "0"}
            if content_type:
                headers["Content-Type"] = content_type
            assert request(served, method, door, headers, payload) == 400, (method, content_type)
    headers = {"Authorization": basic, "Depth": "0", "Content-Type": "application/xml"}
    assert request(served, "PROPFIND", door, headers, PROPFIND) == 207
    assert "Traceback" not in served.output()


def wait_for(condition, seconds: float = 30) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


def send_part(served: Served, basic: str, method: str, path: str, declared: int) -> socket.socket:
    """A request whose client sends a third of the body it announced."""
    connection = socket.create_connection(("127.0.0.1", port_of(served)), timeout=30)
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {basic}\r\n"
    head += f"Content-Length: {declared}\r\nDepth: 0\r\n\r\n"
    connection.sendall(head.encode() + b"<" + b"y" * (declared // 3))
    return connection


def test_bodies_cut_short_leave_nothing_behind(home) -> None:  # type: ignore[no-untyped-def]
    served, basic, temp_dir = home
    for path in ("/dav/files/mine/cut.bin", "/api/files/mine/cut.bin"):  # file content
        connection = send_part(served, basic, "PUT", path, 4 << 20)
        assert wait_for(lambda: any(temp_dir.iterdir())), "the upload never started"
        connection.close()  # the client goes away mid-body
        assert wait_for(lambda: not any(temp_dir.iterdir())), "a cut upload left a partial file"
    for method, path in (  # bodies the node reads whole before the app sees them
        ("PUT", "/dav/cal/alex/agenda/cut.ics"),
        ("PROPPATCH", "/dav/files/mine/"),
        ("PROPFIND", "/dav/cal/alex/"),
        ("POST", "/api/files/folders"),
    ):
        send_part(served, basic, method, path, 4000).close()
    auth = {"Authorization": basic}
    for path in (
        "/api/files/mine/cut.bin",
        "/dav/files/mine/cut.bin",
        "/dav/cal/alex/agenda/cut.ics",
    ):
        assert request(served, "GET", path, auth, b"") == 404, path
    assert request(served, "GET", "/healthz", {}, b"") == 200
    assert served.process.poll() is None
    assert "Traceback" not in served.output()

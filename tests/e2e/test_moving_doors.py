"""The old home's doors with real clients and real `hameau serve` processes: a frozen
member's WebDAV and CalDAV writes refused (nothing written, reads going on); rclone and the
`caldav` client following a moved member's permanent redirects to their new home."""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import caldav
import pytest

from hameau.accounts import members, tokens
from hameau.accounts.models import AppToken
from hameau.accounts.secrets import digest
from hameau.config import Settings
from hameau.moving import doors
from hameau.node.datadir import Node, open_node
from hameau.node.db import transaction
from tests.e2e.hamlet_nodes import hamlet
from tests.e2e.served import serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e

EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261201T100000Z
DTSTART:20261202T180000Z
DTEND:20261202T200000Z
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR
"""


@contextmanager
def opened(data_dir: Path) -> Iterator[Node]:
    node = open_node(Settings(data_dir=data_dir))
    try:
        yield node
    finally:
        node.close()


def set_home(data_dir: Path, name: str, change: str, to: str = "") -> None:
    """What the move's protocol does at the switch, through the doors' own functions."""
    with opened(data_dir) as node, transaction(node.sessions) as session:
        member = members.find_member(session, name)
        if change == "freeze":
            doors.freeze(session, member)
        elif change == "moved":
            doors.mark_moved(session, member, to)
        else:
            doors.mark_home(session, member)


def app_password(data_dir: Path, name: str, secret: str | None = None) -> str:
    """A new app password, or (with `secret`) the same one as elsewhere: a move carries the
    credentials' hashes, so the same password works at the new home."""
    with opened(data_dir) as node, transaction(node.sessions) as session:
        member = members.find_member(session, name)
        if secret is None:
            return tokens.create_token(session, member, "test")[1]
        session.add(AppToken(member_id=member.id, label="moved", token_hash=digest(secret)))
        return secret


def dav(url: str, name: str, secret: str, method: str, body: bytes = b"", **headers: str):  # type: ignore[no-untyped-def]
    made = urllib.request.Request(url, data=body or None, method=method)
    made.add_header("Authorization", "Basic " + b64encode(f"{name}:{secret}".encode()).decode())
    made.add_header("Accept-Language", "en")
    for key, value in headers.items():
        made.add_header(key.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(made, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


PROPPATCH = b"""<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:test"><D:set><D:prop><Z:colour>red</Z:colour>
</D:prop></D:set></D:propertyupdate>"""


def test_a_frozen_members_webdav_and_caldav_writes_are_refused_and_nothing_changes(
    tmp_path: Path,
) -> None:
    root = tmp_path / "node"
    node = make_node(root)
    add_member(node, "alex")
    node.close()
    secret = app_password(root, "alex")
    with serve(root) as served:
        files = f"{served.url}/dav/files/mine"
        assert dav(f"{files}/a.txt", "alex", secret, "PUT", b"one")[0] == 201
        client = caldav.DAVClient(url=f"{served.url}/dav/cal/", username="alex", password=secret)
        agenda = client.calendar(url=f"{served.url}/dav/cal/alex/agenda/")
        agenda.save_event(EVENT.format(uid="e-1", summary="Before"))
        set_home(root, "alex", "freeze")

        writes = [
            ("PUT", f"{files}/a.txt", b"two", {}),
            ("PUT", f"{files}/b.txt", b"new", {}),
            ("MKCOL", f"{files}/Folder/", b"", {}),
            ("DELETE", f"{files}/a.txt", b"", {}),
            ("MOVE", f"{files}/a.txt", b"", {"Destination": f"{files}/c.txt"}),
            ("PROPPATCH", f"{files}/a.txt", PROPPATCH, {"Content_Type": "application/xml"}),
            ("PUT", f"{served.url}/dav/cal/alex/agenda/e-2.ics",
             EVENT.format(uid="e-2", summary="During").encode(),
             {"Content_Type": "text/calendar"}),
        ]  # fmt: skip
        for method, url, body, headers in writes:
            status, answered, text = dav(url, "alex", secret, method, body, **headers)
            assert status == 503, (method, url, status, text)
            assert answered["Retry-After"] == "60"
            assert b"Your things are moving to another home" in text
        # The caldav client's own write is refused too.
        with pytest.raises(caldav.lib.error.DAVError):
            agenda.save_event(EVENT.format(uid="e-3", summary="During too"))
        # Nothing was written, and reads go on.
        assert dav(f"{files}/a.txt", "alex", secret, "GET")[2] == b"one"
        listing = dav(f"{files}/", "alex", secret, "PROPFIND", Depth="1")
        assert listing[0] == 207
        assert b"a.txt" in listing[2] and b"b.txt" not in listing[2] and b"Folder" not in listing[2]
        assert b"colour" not in dav(f"{files}/a.txt", "alex", secret, "PROPFIND", Depth="0")[2]
        summaries = [e.icalendar_component["summary"] for e in agenda.events()]
        assert summaries == ["Before"]
        # Once the move is over (here: called off), writes are taken again.
        set_home(root, "alex", "home")
        assert dav(f"{files}/a.txt", "alex", secret, "PUT", b"two")[0] == 204


def _rclone(url: str, secret: str, ca: Path, *args: str) -> subprocess.CompletedProcess[str]:
    obscured = subprocess.run(
        ["rclone", "obscure", secret], capture_output=True, text=True, check=True
    ).stdout.strip()
    remote = [
        "--webdav-url", f"{url}/dav/files", "--webdav-user", "alex", "--webdav-pass", obscured,
        "--ca-cert", str(ca), "--config", "/dev/null", "--header", "Accept-Language: en", "--low-level-retries", "1", "--retries", "1",
    ]  # fmt: skip
    return subprocess.run(["rclone", *args, *remote], capture_output=True, text=True, timeout=120)


def _curl_through_the_old_address(old: str, new: str, secret: str, ca: Path, sent: Path) -> None:
    """curl told to keep the credentials across the redirect (--location-trusted) reads and
    writes at the new home through the old address, method and body kept."""
    curl = ["curl", "-sS", "--location-trusted", "--cacert", str(ca), "-u", f"alex:{secret}"]

    def run(*args: str) -> str:
        return subprocess.run([*curl, *args], capture_output=True, text=True, timeout=60).stdout

    assert run(f"{old}/dav/files/mine/Voyage/plan.txt") == "day 1: Lyon"
    done = run("-T", str(sent), "-w", "%{http_code} %{url_effective}",
               f"{old}/dav/files/mine/Voyage/carnet.txt")  # fmt: skip
    assert done.endswith(f"201 {new}/dav/files/mine/Voyage/carnet.txt")
    events = run("-X", "PROPFIND", "-H", "Depth: 1", f"{old}/dav/cal/alex/agenda/")
    assert "n-1.ics" in events


def test_rclone_and_the_caldav_client_follow_a_moved_member_to_their_new_home(
    tmp_path: Path,
) -> None:
    if shutil.which("rclone") is None:
        pytest.fail("rclone is missing: install Debian's rclone (.ci/run does).")
    with hamlet(tmp_path, names=("Old", "New"), pairs=()) as homes:
        old, new = homes["Old"], homes["New"]
        for home in (old, new):
            with opened(home.data_dir) as node:
                add_member(node, "alex")
        secret = app_password(old.data_dir, "alex")
        app_password(new.data_dir, "alex", secret)
        ca = tmp_path / "both.pem"
        ca.write_bytes(b"".join(h.served.cert.read_bytes() for h in (old, new)))  # type: ignore[union-attr]
        assert _rclone(new.url, secret, ca, "mkdir", ":webdav:mine/Voyage").returncode == 0
        sent = tmp_path / "plan.txt"
        sent.write_text("day 1: Lyon")
        made = _rclone(new.url, secret, ca, "copyto", str(sent), ":webdav:mine/Voyage/plan.txt")
        assert made.returncode == 0, made.stderr
        start = datetime(2026, 12, 2, 18, tzinfo=UTC)
        at_new = caldav.DAVClient(
            url=f"{new.url}/dav/cal/", username="alex", password=secret, ssl_verify_cert=str(ca)
        )
        at_new.calendar(url=f"{new.url}/dav/cal/alex/agenda/").save_event(
            dtstart=start, dtend=start + timedelta(hours=1), summary="At the new home", uid="n-1"
        )
        set_home(old.data_dir, "alex", "moved", new.url)

        # rclone pointed at the old home: Go's HTTP client does not replay a PROPFIND's body
        # on a 308, so rclone stops, and prints the sentence that says where home is now.
        listed = _rclone(old.url, secret, ca, "lsf", "-R", ":webdav:mine")
        assert listed.returncode != 0
        assert f"This address has moved to {new.url}" in listed.stderr
        # Pointed at the new home (the address it was told), the same app password works.
        listed = _rclone(new.url, secret, ca, "lsf", "-R", ":webdav:mine")
        assert "Voyage/plan.txt" in listed.stdout.split(), listed.stderr
        _curl_through_the_old_address(old.url, new.url, secret, ca, sent)
        # What was written went to the new home; the old copy did not change.
        listed = _rclone(new.url, secret, ca, "lsf", "-R", ":webdav:mine")
        assert "Voyage/carnet.txt" in listed.stdout.split()
        with opened(old.data_dir) as node, node.sessions() as session:
            from hameau.files.models import FileEntry

            assert session.query(FileEntry).filter_by(name="carnet.txt").count() == 0
        # The caldav client follows the redirect, but its HTTP library (niquests, as requests)
        # drops the credentials on the way to another origin: the new home asks for them, and
        # the client gives up. It must be given the new address (the 308's body says it).
        at_old = caldav.DAVClient(
            url=f"{old.url}/dav/cal/", username="alex", password=secret, ssl_verify_cert=str(ca)
        )
        with pytest.raises(caldav.lib.error.AuthorizationError):
            at_old.calendar(url=f"{old.url}/dav/cal/alex/agenda/").events()

"""CalDAV and CardDAV (Radicale inside the node) against hostile requests, on a real `hameau
serve` process: every method on the member's, the household's and another member's
collections, with random headers and bodies (events that never happen, garbage, queries over
eight thousand years, a multiget of two thousand addresses, a bad sync token). No answer may
be a 5xx, and the household's event reads back. It found an empty `<propfind/>` and a
Destination that does not parse answering 500 (Radicale's own code; hameau/calendar/radicale.py
refuses both with 400 and a sentence now), any member's DELETE of the household's calendar
taking every member's events with it, and Radicale sleeping a second in one of its two
threads on each 403 (its login delay; the node checks logins itself)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.served import Served, serve
from tests.helpers import node_for_clients

pytestmark = pytest.mark.e2e

REQUESTS = 1000  # about 20 s here; HAMEAU_FUZZ_SEED=N walks another way
QUERY = (
    b'<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:'
    b'caldav"><D:prop><D:getetag/><C:calendar-data><C:expand start="20261201T000000Z" end="2126'
    b'1231T000000Z"/></C:calendar-data></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:co'
    b'mp-filter name="VEVENT"><C:time-range start="00010101T000000Z" end="99991231T000000Z"/></'
    b"C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
)
MULTIGET = (
    b'<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:'
    b'caldav"><D:prop><D:getetag/></D:prop>'
    + b"<D:href>/dav/cal/x/y.ics</D:href>" * 2000
    + b"</C:calendar-multiget>"
)


def event(uid: str, extra: str = "") -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20261205T100000Z\r\n"
        f"SUMMARY:Rappel {uid}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


BODIES = (
    b"", b"<x/>", b"\xff\xfe\x00", event("a"), QUERY, MULTIGET,
    event("never", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30\r\n"),
    event("backwards", "DTEND:20261201T000000Z\r\n"), event("bad", "EXDATE:garbage\r\n"),
    b"BEGIN:VCALENDAR\r\n" * 300, b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n",
    b'<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>garbage'
    b"</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>"
    b"</D:sync-collection>",
    b'<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>' + b"x" * 10000
    + b"</D:displayname></D:prop></D:set></D:propertyupdate>",
)  # fmt: skip
METHODS = ("GET", "HEAD", "PUT", "DELETE", "MKCOL", "MKCALENDAR", "COPY", "MOVE", "PROPFIND",
           "PROPPATCH", "REPORT", "OPTIONS", "POST", "LOCK")  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    root = tmp_path_factory.mktemp("caldav-hostile") / "node"
    secret = node_for_clients(root, "alex", "sam")
    with serve(root) as served:
        yield served, secret


def test_an_empty_propfind_and_a_destination_that_is_no_address_get_400(
    home: tuple[Served, str],
) -> None:
    served, secret = home
    with httpx.Client(base_url=served.url, auth=("alex", secret)) as cal:
        for body in (b"<x/>", b'<D:propfind xmlns:D="DAV:"/>'):
            refused = cal.request("PROPFIND", "/dav/cal/household/", content=body,
                                  headers={"Depth": "0"})  # fmt: skip
            assert refused.status_code == 400
            assert refused.text == (
                "A PROPFIND's body names what it asks for: prop, allprop or propname."
            )
        assert cal.request("PROPFIND", "/dav/cal/alex/", headers={"Depth": "1"}).status_code == 207
        moved = cal.request("MOVE", "/dav/cal/alex/agenda/a.ics",
                            headers={"Destination": "http://[::1"})  # fmt: skip
        assert (
            moved.status_code == 400 and moved.text == "The Destination header is not an address."
        )


def test_the_households_collections_are_kept_whole_their_events_are_not(
    home: tuple[Served, str],
) -> None:
    served, secret = home
    with httpx.Client(base_url=served.url, auth=("alex", secret)) as cal:
        path = "/dav/cal/household/agenda/dinner.ics"
        assert cal.put(path, content=event("dinner"),
                       headers={"Content-Type": "text/calendar"}).status_code == 201  # fmt: skip
        for collection in ("household/agenda/", "household/agenda", "household/",
                           "household/contacts/"):  # fmt: skip
            for method in ("DELETE", "MOVE", "PUT"):  # a PUT replaces a whole collection
                refused = cal.request(method, f"/dav/cal/{collection}", content=event("other"),
                                      headers={"Destination": f"{served.url}/dav/cal/alex/x/",
                                               "Content-Type": "text/calendar"})  # fmt: skip
                assert refused.status_code == 403, (method, collection)
                assert "not the whole collection" in refused.text
        assert b"Rappel dinner" in cal.get(path).content
        assert cal.delete(path).status_code in (200, 204)  # one event: as any member may


def test_hostile_caldav_requests_never_get_a_server_error(home: tuple[Served, str]) -> None:
    served, secret = home
    chance = random.Random(int(os.environ.get("HAMEAU_FUZZ_SEED", "20261202")))
    url = served.url
    paths = ["/dav/cal/alex/", "/dav/cal/alex/agenda/", "/dav/cal/alex/agenda/a.ics",
             "/dav/cal/alex/agenda/new.ics", "/dav/cal/alex/contacts/", "/dav/cal/",
             "/dav/cal/alex/contacts/c.vcf", "/dav/cal/household/agenda/", "/dav/cal/household/",
             "/dav/cal/alex/new/", "/dav/cal/sam/agenda/", "/.well-known/caldav",
             "/dav/cal/alex/agenda/" + "a" * 300 + ".ics"]  # fmt: skip
    values = {
        "Depth": ["0", "1", "infinity", "x"],
        "Content-Type": ["text/calendar", "text/vcard", "application/xml", ""],
        "If-Match": ["*", '"x"'],
        "If-None-Match": ["*"],
        "Destination": [
            f"{url}/dav/cal/alex/agenda/z.ics",
            "http://[::1",
            f"{url}/dav/cal/sam/agenda/z.ics",
            f"{url}/dav/cal/",
        ],
        "Overwrite": ["T", "F"],
    }
    failures = []
    with httpx.Client(base_url=url, auth=("alex", secret), timeout=120) as cal:
        made = cal.put("/dav/cal/household/agenda/kept.ics", content=event("kept"),
                       headers={"Content-Type": "text/calendar"})  # fmt: skip
        assert made.status_code == 201
        for _ in range(REQUESTS):
            method, path, body = chance.choice(METHODS), chance.choice(paths), chance.choice(BODIES)
            chosen = chance.sample(sorted(values), chance.randint(0, 3))
            headers = {name: chance.choice(values[name]) for name in chosen}
            answer = cal.request(method, path, headers=headers, content=body)
            if answer.status_code >= 500 and answer.status_code != 507:
                failures.append(f"{answer.status_code} {method} {path} {headers} {body[:40]!r}")
        assert not failures, "\n".join(failures[:20])
        assert b"Rappel kept" in cal.get("/dav/cal/household/agenda/kept.ics").content

"""Calendars and contacts with the real `caldav` client against a real `hameau serve`."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET  # our own node's answers, in a test
from base64 import b64encode
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import caldav
import pytest

from hameau.accounts import members, tokens
from hameau.node.db import transaction
from tests.e2e.served import Served, login_cookie, serve
from tests.helpers import PASSWORD, add_member, make_node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    root = tmp_path_factory.mktemp("caldav") / "node"
    node = make_node(root)
    secrets = {}
    for name in ("alex", "sam"):
        add_member(node, name)
        with transaction(node.sessions) as session:
            secrets[name] = tokens.create_token(session, members.find_member(session, name), "t")[1]
    node.close()
    with serve(root) as served:
        yield served, secrets


def page(served: Served, name: str, path: str) -> str:
    cookie = login_cookie(served.url, name, PASSWORD)
    request = urllib.request.Request(
        served.url + path, headers={"Cookie": f"hameau_session={cookie}"}
    )
    return urllib.request.urlopen(request).read().decode()


def test_the_household_calendar_through_caldav_and_the_agenda_page(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    client = caldav.DAVClient(
        url=f"{served.url}/dav/cal/", username="alex", password=secrets["alex"]
    )
    principal = client.principal()
    own = [calendar.url.path for calendar in principal.calendars()]
    assert "/dav/cal/alex/agenda/" in own
    household = client.calendar(url=f"{served.url}/dav/cal/household/agenda/")
    start = datetime(2026, 12, 2, 18, 30, tzinfo=UTC)
    household.save_event(
        dtstart=start, dtend=start + timedelta(hours=2), summary="Assemblée du foyer", uid="ag-1"
    )

    found = household.search(
        start=start - timedelta(days=1), end=start + timedelta(days=1), event=True
    )
    assert [event.icalendar_component["summary"] for event in found] == ["Assemblée du foyer"]
    assert (
        household.search(start=start + timedelta(days=3), end=start + timedelta(days=4), event=True)
        == []
    )

    week = page(
        served, "sam", "/agenda?view=week&day=2026-12-02"
    )  # another member sees the household's
    assert "Assemblée du foyer" in week
    month = page(served, "alex", "/agenda?view=month&day=2026-12-15")
    assert "Assemblée du foyer" in month


def test_calendars_are_private_unless_in_the_household(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    alex = caldav.DAVClient(url=f"{served.url}/dav/cal/", username="alex", password=secrets["alex"])
    mine = alex.calendar(url=f"{served.url}/dav/cal/alex/agenda/")
    start = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    mine.save_event(
        dtstart=start, dtend=start + timedelta(hours=1), summary="Médecin", uid="private-1"
    )

    sam = caldav.DAVClient(url=f"{served.url}/dav/cal/", username="sam", password=secrets["sam"])
    with pytest.raises(caldav.lib.error.DAVError):
        sam.calendar(url=f"{served.url}/dav/cal/alex/agenda/").events()
    assert "Médecin" not in page(served, "sam", "/agenda?view=week&day=2026-12-05")
    assert "Médecin" in page(served, "alex", "/agenda?view=week&day=2026-12-05")
    # Alex's app password with Sam's name opens nothing.
    sneaky = caldav.DAVClient(
        url=f"{served.url}/dav/cal/", username="sam", password=secrets["alex"]
    )
    with pytest.raises(caldav.lib.error.AuthorizationError):
        sneaky.principal()


def test_a_contact_added_over_carddav_shows_in_the_contacts_page(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    card = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c-1\r\nFN:Louise Martin\r\nN:Martin;Louise;;;\r\n"
        "EMAIL:louise@example.org\r\nTEL:+33 6 12 34 56 78\r\nEND:VCARD\r\n"
    )
    basic = b64encode(f"alex:{secrets['alex']}".encode()).decode()
    urllib.request.urlopen(urllib.request.Request(f"{served.url}/dav/cal/", method="PROPFIND",
                           headers={"Authorization": f"Basic {basic}", "Depth": "0"}))  # fmt: skip
    request = urllib.request.Request(
        f"{served.url}/dav/cal/alex/contacts/c-1.vcf", data=card.encode(), method="PUT",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "text/vcard"},
    )  # fmt: skip
    assert urllib.request.urlopen(request).status == 201
    contacts = page(served, "alex", "/contacts")
    assert "Louise Martin" in contacts and "louise@example.org" in contacts
    assert "Louise Martin" not in page(served, "sam", "/contacts")


def test_discovery_and_login_are_required(home) -> None:  # type: ignore[no-untyped-def]
    served, _ = home
    request = urllib.request.Request(f"{served.url}/.well-known/caldav", method="GET")
    opener = urllib.request.build_opener(NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as moved:
        opener.open(request)
    assert moved.value.code == 301 and moved.value.headers["Location"] == "/dav/cal/"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(
            urllib.request.Request(f"{served.url}/dav/cal/alex/", method="PROPFIND")
        )
    assert refused.value.code == 401


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


PRINCIPAL = b"""<?xml version="1.0" encoding="utf-8"?>
<propfind xmlns="DAV:"><prop><current-user-principal/><resourcetype/></prop></propfind>"""
HOMES = b"""<?xml version="1.0" encoding="utf-8"?>
<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"
 xmlns:CR="urn:ietf:params:xml:ns:carddav"><prop><C:calendar-home-set/>
<CR:addressbook-home-set/><displayname/></prop></propfind>"""
LISTING = b"""<?xml version="1.0" encoding="utf-8"?>
<propfind xmlns="DAV:"><prop><resourcetype/><displayname/></prop></propfind>"""


def propfind(
    url: str, path: str, body: bytes, depth: str, auth: str | None
) -> tuple[int, dict[str, str], bytes]:
    """One PROPFIND, as DAVx⁵ sends it; redirects are not followed here."""
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    headers = {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"}
    if auth:
        headers["Authorization"] = auth
    connection.request("PROPFIND", path, body=body, headers=headers)
    answer = connection.getresponse()
    content = answer.read()
    connection.close()
    return answer.status, dict(answer.getheaders()), content


def hrefs(xml: bytes, prop: str) -> list[str]:
    tree = ET.fromstring(xml)  # noqa: S314
    return [href.text or "" for found in tree.iter(prop) for href in found.iter("{DAV:}href")]


@pytest.mark.parametrize("service", ["caldav", "carddav"])
def test_davx5_style_discovery_by_propfind(home, service: str) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    basic = "Basic " + b64encode(f"alex:{secrets['alex']}".encode()).decode()
    # 1. The well-known address, asked by PROPFIND before any login (RFC 6764).
    status, headers, _ = propfind(served.url, f"/.well-known/{service}", PRINCIPAL, "0", None)
    assert status == 301
    context = headers["location"]
    assert context == "/dav/cal/"
    # 2. The context path wants a login, then names the member's principal.
    assert propfind(served.url, context, PRINCIPAL, "0", None)[0] == 401
    status, _, body = propfind(served.url, context, PRINCIPAL, "0", basic)
    assert status == 207
    (principal,) = hrefs(body, "{DAV:}current-user-principal")
    assert principal == "/dav/cal/alex/"
    # 3. The principal's homes, then the collections in them.
    status, _, body = propfind(served.url, principal, HOMES, "0", basic)
    assert status == 207
    (calendars,) = hrefs(body, "{urn:ietf:params:xml:ns:caldav}calendar-home-set")
    (books,) = hrefs(body, "{urn:ietf:params:xml:ns:carddav}addressbook-home-set")
    assert calendars == books == "/dav/cal/alex/"
    status, _, body = propfind(served.url, calendars, LISTING, "1", basic)
    assert status == 207
    listed = [href.text for href in ET.fromstring(body).iter("{DAV:}href")]  # noqa: S314
    assert "/dav/cal/alex/agenda/" in listed and "/dav/cal/alex/contacts/" in listed


def test_the_caldav_client_finds_the_calendars_from_the_well_known_address(home) -> None:  # type: ignore[no-untyped-def]
    served, secrets = home
    client = caldav.DAVClient(
        url=f"{served.url}/.well-known/caldav", username="alex", password=secrets["alex"]
    )
    principal = client.principal()
    assert principal.url.path == "/dav/cal/alex/"
    assert str(principal.calendar_home_set.url.path) == "/dav/cal/alex/"
    assert "/dav/cal/alex/agenda/" in [calendar.url.path for calendar in principal.calendars()]


def test_the_caldav_client_is_refused_an_event_repeating_every_second(home) -> None:  # type: ignore[no-untyped-def]
    """The `caldav` client, as an app would: an event repeating every second is refused
    (403, CALDAV:max-instances) and nothing of it is kept; a daily one is kept, and the
    calendar still answers a search that expands repeats."""
    served, secrets = home
    client = caldav.DAVClient(url=f"{served.url}/dav/cal/", username="sam", password=secrets["sam"])
    agenda = client.calendar(url=f"{served.url}/dav/cal/sam/agenda/")
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    with pytest.raises(caldav.lib.error.AuthorizationError, match="Forbidden"):  # the 403
        agenda.save_event(
            dtstart=start, dtend=start + timedelta(minutes=30), summary="Tic", uid="tic",
            rrule={"FREQ": "SECONDLY"},
        )  # fmt: skip
    with pytest.raises(caldav.lib.error.NotFoundError):
        agenda.event_by_uid("tic")
    agenda.save_event(
        dtstart=start, dtend=start + timedelta(minutes=30), summary="Café", uid="cafe",
        rrule={"FREQ": "DAILY"},
    )  # fmt: skip
    week = agenda.search(start=start, end=start + timedelta(days=7), event=True, expand=True)
    assert sorted({str(e.icalendar_component["summary"]) for e in week}) == ["Café"]
    assert len(week) == 7

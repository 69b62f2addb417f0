"""An event made by a CalDAV client (a phone) and edited in the agenda's form keeps all the
form does not show (its repeat rule, alarm, categories); a form shown before another device
changed or deleted the event is refused in words instead of undoing that change; an event
moved to another calendar leaves the first."""

from __future__ import annotations

import base64
import html
from typing import Any

import pytest

from hameau.accounts import members, tokens
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, csrf, log_in

PHONE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//EN\r\nBEGIN:VEVENT\r\nUID:yoga\r\n"
    "DTSTAMP:20261201T080000Z\r\nDTSTART:20261207T180000Z\r\nDTEND:20261207T190000Z\r\n"
    "SUMMARY:Yoga\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nCATEGORIES:Sport\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Yoga\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)
ICS = "/dav/cal/alex/agenda/yoga.ics"


@pytest.fixture
def alex(node: Node) -> tuple[Any, Any]:
    """Alex logged in to the pages, and their phone (CalDAV with an app password); the
    phone's repeating event stored."""
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "phone")[1]
    client, phone = browser(node), browser(node)
    phone.headers["Authorization"] = "Basic " + base64.b64encode(f"alex:{secret}".encode()).decode()
    phone.headers["Content-Type"] = "text/calendar"
    log_in(client, "alex")
    assert phone.request("PROPFIND", "/dav/cal/alex/", headers={"Depth": "1"}).is_success
    assert phone.put(ICS, content=PHONE).status_code == 201
    return client, phone


def _form(client: Any) -> tuple[str, dict[str, str]]:
    page = client.get("/agenda/event", params={"calendar": "alex/agenda", "uid": "yoga"}).text
    hidden = {
        name: html.unescape(page.split(f'name="{name}" value="')[1].split('"')[0])
        for name in ("uid", "etag", "was")
    }
    fields = {"calendar": "alex/agenda", "summary": "Yoga doux", "start": "2026-12-07T19:00",
              "end": "2026-12-07T20:00", "location": "Salle des fêtes"}  # fmt: skip
    return page, {"csrf_token": csrf(page), **hidden, **fields}


def test_an_edit_in_the_form_keeps_what_the_form_does_not_show(alex) -> None:  # type: ignore[no-untyped-def]
    client, phone = alex
    _page, form = _form(client)
    assert client.post("/agenda/event", data=form).status_code == 303
    stored = phone.get(ICS).text
    assert "SUMMARY:Yoga doux" in stored and "LOCATION:Salle des fêtes" in stored
    assert "RRULE:FREQ=WEEKLY;COUNT=10" in stored and "CATEGORIES:Sport" in stored
    assert "BEGIN:VALARM" in stored and "TRIGGER:-PT15M" in stored
    assert "SEQUENCE:1" in stored
    week = client.get("/agenda", params={"view": "week", "day": "2026-12-21"}).text
    assert "Yoga doux" in week  # still repeating, weeks later


def test_a_form_shown_before_the_phone_changed_the_event_is_refused(alex) -> None:  # type: ignore[no-untyped-def]
    client, phone = alex
    _page, form = _form(client)
    moved = PHONE.replace("SUMMARY:Yoga", "SUMMARY:Yoga (salle 2)")
    changed = phone.put(ICS, content=moved)
    assert changed.status_code == 204
    refused = client.post("/agenda/event", data=form)
    assert refused.status_code == 409 and "sur un autre appareil" in refused.text
    assert "SUMMARY:Yoga (salle 2)" in phone.get(ICS).text


def test_a_form_shown_before_the_phone_deleted_the_event_makes_nothing(alex) -> None:  # type: ignore[no-untyped-def]
    client, phone = alex
    _page, form = _form(client)
    assert phone.delete(ICS).status_code in (200, 204)
    refused = client.post("/agenda/event", data=form)
    assert refused.status_code == 409 and "supprimé" in refused.text
    assert phone.get(ICS).status_code == 404


def test_an_event_moved_to_the_household_calendar_leaves_the_members(alex) -> None:  # type: ignore[no-untyped-def]
    client, phone = alex
    _page, form = _form(client)
    assert (
        client.post("/agenda/event", data={**form, "calendar": "household/agenda"}).status_code
        == 303
    )
    assert phone.get(ICS).status_code == 404
    shared = phone.get("/dav/cal/household/agenda/yoga.ics")
    assert shared.status_code == 200 and "RRULE:FREQ=WEEKLY" in shared.text

"""An event that repeats too often cannot hold the node: a CalDAV PUT (or a satellite's sync)
of one that repeats more than 50,000 times in the next two years is refused with 403 and
CALDAV:max-instances, so Radicale never walks it; one that came in another way (put straight
into the storage, as a hand-made archive could) costs the agenda a bounded walk."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from hameau.accounts import members, tokens
from hameau.calendar import recurrence
from hameau.calendar.store import CalendarStore
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, log_in

REPORT = b"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>
<C:calendar-data><C:expand start="20260101T000000Z" end="20270101T000000Z"/></C:calendar-data>
</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
<C:time-range start="20260101T000000Z" end="20270101T000000Z"/></C:comp-filter></C:comp-filter>
</C:filter></C:calendar-query>"""


def ics(uid: str, rule: str, start: str = "20260105T090000Z", end: str = "") -> str:
    end = end or start[:9] + "1" + start[10:]  # an hour later
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
        f"SUMMARY:Rappel {uid}\r\nRRULE:{rule}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.fixture
def dav(node: Node) -> tuple[object, dict[str, str]]:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "t")[1]
    basic = base64.b64encode(f"alex:{secret}".encode()).decode()
    client = browser(node)
    auth = {"Authorization": f"Basic {basic}", "Content-Type": "text/calendar"}
    assert client.request("PROPFIND", "/dav/cal/alex/", headers={**auth, "Depth": "1"}).is_success
    return client, auth


def test_a_caldav_put_of_an_event_repeating_too_often_is_refused(dav) -> None:  # type: ignore[no-untyped-def]
    client, auth = dav
    for uid, rule, start in (
        ("every-second", "FREQ=SECONDLY", "20260105T090000Z"),
        ("every-half-hour-since-1990", "FREQ=MINUTELY;INTERVAL=30", "19900105T090000Z"),
    ):
        refused = client.put(f"/dav/cal/alex/agenda/{uid}.ics", content=ics(uid, rule, start),
                             headers=auth)  # fmt: skip
        assert refused.status_code == 403, uid
        assert "<C:max-instances/>" in refused.text and "repeats too often" in refused.text
        assert client.get(f"/dav/cal/alex/agenda/{uid}.ics", headers=auth).status_code == 404
    unreadable = client.put("/dav/cal/alex/agenda/never.ics", content=ics("never", "FREQ=NEVER"),
                            headers=auth)  # fmt: skip
    assert unreadable.status_code == 400  # Radicale's own refusal
    for uid, rule, start in (
        ("daily-since-1970", "FREQ=DAILY", "19700105T090000Z"),
        ("every-eight-hours", "FREQ=HOURLY;INTERVAL=8", "20200105T090000Z"),
        ("weekly", "FREQ=WEEKLY;BYDAY=MO,WE", "20260105T090000Z"),
    ):
        made = client.put(f"/dav/cal/alex/agenda/{uid}.ics", content=ics(uid, rule, start),
                          headers=auth)  # fmt: skip
        assert made.status_code == 201, uid
    report = client.request("REPORT", "/dav/cal/alex/agenda/", content=REPORT,
                            headers={**auth, "Depth": "1", "Content-Type": "application/xml"})  # fmt: skip
    assert report.status_code == 207 and "Rappel weekly" in report.text


def test_a_satellites_event_repeating_too_often_is_refused(node: Node) -> None:
    add_member(node, "alex")
    store = CalendarStore(node)
    store.ensure("alex")
    with pytest.raises(recurrence.RepeatsTooOften):
        store.put_item("alex", "alex/agenda", "bomb", ics("bomb", "FREQ=SECONDLY"))
    assert "bomb" not in store.items("alex", "alex/agenda")


def test_an_event_that_came_in_another_way_costs_the_agenda_a_bounded_walk(node: Node) -> None:
    from radicale import item as radicale_item

    add_member(node, "alex")
    client = browser(node)
    log_in(client, "alex")
    store = CalendarStore(node)
    store.ensure("alex")
    bombs = {"old": ics("old", "FREQ=SECONDLY", "19700105T090000Z"),  # walked, never shown
             "long": ics("long", "FREQ=MINUTELY", "20260105T090000Z", "20300105T090000Z")}  # fmt: skip
    with store.storage.acquire_lock("w", "alex"):
        collection = store._collection("alex", "alex/agenda")
        for uid, text in bombs.items():
            calendar = radicale_item.read_components(text)[0]
            collection.upload(f"{uid}.ics", radicale_item.Item(
                collection_path="alex/agenda", vobject_item=calendar))  # fmt: skip
    week = client.get("/agenda", params={"view": "week", "day": "2026-01-07"})
    assert week.status_code == 200
    assert "Rappel old" not in week.text
    shown = store.events(
        "alex", datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC)
    )
    assert len([e for e in shown if e.uid == "long"]) == recurrence.SHOWN


def test_the_walk_and_the_check_stop_where_they_say() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    every_second = (start + timedelta(seconds=n) for n in range(10**9))
    assert list(recurrence.between(every_second, start, start + timedelta(days=1)))[-1] == (
        start + timedelta(seconds=recurrence.SHOWN - 1)
    )
    far = (start + timedelta(days=n) for n in range(10**9))  # walked to WALKED, none shown
    assert (
        list(recurrence.between(far, start + timedelta(days=10**6), start.max.replace(tzinfo=UTC)))
        == []
    )


NEVER = (  # rules that never happen: dateutil would look for them until the year 9999
    ("february-30th", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),
    ("every-second-of-february-30th", "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30"),
    ("april-31st", "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31"),
)


def test_a_rule_that_never_happens_is_looked_for_a_bounded_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import vobject
    from dateutil import rrule

    recurrence.bound_walks()
    walked: list[int] = []
    rebuild = rrule._iterinfo.rebuild  # dateutil calls it at each new month of a walk

    def counted(info: object, year: int, month: int) -> object:
        walked.append(year)
        return rebuild(info, year, month)

    monkeypatch.setattr(rrule._iterinfo, "rebuild", counted)
    for uid, rule in NEVER:
        event = vobject.readOne(ics(uid, rule)).vevent
        walked.clear()
        rules = event.getrruleset(addRDate=True)  # vobject walks to the first occurrence
        assert len(walked) <= recurrence.QUIET + 1 and max(walked) <= 2026 + 51, uid
        walked.clear()
        assert list(rules) == []
        assert len(walked) <= recurrence.QUIET + 1 and max(walked) <= 2026 + 51, uid
    # A rule with long quiet stretches keeps every occurrence: February 29th on a Monday
    # comes back after 28 years, or 40 across 2100, which is not a leap year.
    leap_mondays = vobject.readOne(
        ics("leap", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", "20160229T090000Z")
    ).vevent.getrruleset(addRDate=True)
    assert [moment.year for moment in leap_mondays][:5] == [2016, 2044, 2072, 2112, 2140]


def test_a_calendar_holding_rules_that_never_happen_answers_its_searches(dav) -> None:  # type: ignore[no-untyped-def]
    client, auth = dav
    for uid, rule in (*NEVER, ("weekly", "FREQ=WEEKLY;BYDAY=MO,WE")):
        made = client.put(f"/dav/cal/alex/agenda/{uid}.ics", content=ics(uid, rule),
                          headers=auth)  # fmt: skip
        assert made.status_code == 201, uid
    report = client.request("REPORT", "/dav/cal/alex/agenda/", content=REPORT,
                            headers={**auth, "Depth": "1", "Content-Type": "application/xml"})  # fmt: skip
    assert report.status_code == 207 and "Rappel weekly" in report.text
    assert "Rappel april-31st" not in report.text

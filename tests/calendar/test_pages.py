"""The agenda pages: create and edit an event, week and month views, the household's calendar."""

from __future__ import annotations

from hameau.node.datadir import Node
from tests.helpers import add_member, browser, csrf, log_in, members_logged_in


def test_create_then_edit_an_event_in_the_household_calendar(node: Node) -> None:
    alex, sam = members_logged_in(node, "alex", "sam")
    form = alex.get("/agenda/event", params={"day": "2026-12-10"})
    assert form.status_code == 200 and "household/agenda" in form.text
    made = alex.post("/agenda/event", data={
        "csrf_token": csrf(form.text), "calendar": "household/agenda", "summary": "Vide-grenier",
        "start": "2026-12-10T14:00", "end": "2026-12-10T18:00", "location": "Place du marché",
    })  # fmt: skip
    assert made.status_code == 303
    week = sam.get("/agenda", params={"view": "week", "day": "2026-12-10"}).text
    assert "Vide-grenier" in week
    link = week.split('class="event shared" href="')[1].split('"')[0].replace("&amp;", "&")
    edit = sam.get(link)
    assert "Place du marché" in edit.text
    uid = edit.text.split('name="uid" value="')[1].split('"')[0]
    changed = sam.post("/agenda/event", data={
        "csrf_token": csrf(edit.text), "calendar": "household/agenda", "uid": uid, "summary": "Vide-grenier annulé",
        "start": "2026-12-10T14:00", "end": "2026-12-10T18:00",
    })  # fmt: skip
    assert changed.status_code == 303
    month = alex.get("/agenda", params={"view": "month", "day": "2026-12-01"}).text
    assert "Vide-grenier annulé" in month and month.count("Vide-grenier") == 1


def test_event_form_refuses_bad_input_and_other_members_calendars(node: Node) -> None:
    add_member(node, "alex")
    add_member(node, "sam")
    alex = browser(node)
    log_in(alex, "alex")
    token = csrf(alex.get("/agenda/event").text)
    bad = {
        "csrf_token": token,
        "calendar": "alex/agenda",
        "summary": "x",
        "start": "demain",
        "end": "après",
    }
    assert alex.post("/agenda/event", data=bad).status_code == 400
    backwards = {**bad, "start": "2026-12-10T18:00", "end": "2026-12-10T14:00"}
    assert alex.post("/agenda/event", data=backwards).status_code == 400
    theirs = {
        **bad,
        "calendar": "sam/agenda",
        "start": "2026-12-10T14:00",
        "end": "2026-12-10T15:00",
    }
    assert alex.post("/agenda/event", data=theirs).status_code == 403
    assert alex.get("/agenda", params={"day": "not-a-day"}).status_code == 400
    for edge in ("9999-12-31", "0001-01-01", "1899-12-31", "2201-01-01"):  # their weeks overflow
        for view in ("week", "month"):
            page = alex.get("/agenda", params={"day": edge, "view": view})
            assert page.status_code == 400 and "entre les années 1900 et 2200" in page.text
        far = {**bad, "start": f"{edge}T10:00", "end": f"{edge}T11:00"}
        assert alex.post("/agenda/event", data=far).status_code == 400, edge
    assert alex.get("/agenda", params={"day": "2200-12-31", "view": "month"}).status_code == 200

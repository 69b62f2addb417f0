"""Agenda (week and month) and contacts pages, over Radicale's storage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Form, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.accounts import workspace
from hameau.calendar.store import CalendarStore
from hameau.errors import N_, BadRequest
from hameau.web.auth import DB, MemberVisitor, Visitor, member_of

router = APIRouter(include_in_schema=False)


async def well_known(request: Request) -> Response:
    """Open on purpose (RFC 6764): clients ask it before they log in, to find the server;
    DAVx⁵ and Thunderbird ask with PROPFIND, so every method is redirected."""
    return RedirectResponse("/dav/cal/", status_code=301)


DISCOVERY_METHODS = ["GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT", "POST", "PUT", "DELETE"]
for _path in ("/.well-known/caldav", "/.well-known/carddav"):
    router.add_route(_path, well_known, methods=DISCOVERY_METHODS, include_in_schema=False)


def store(request: Request) -> CalendarStore:
    return request.app.state.calendars  # type: ignore[no-any-return]


def _name(visitor: Visitor) -> str:
    return member_of(visitor).name


OUTSIDE = N_("Choose a day between the years 1900 and 2200.")


def _day(text: str) -> date:
    try:
        day = date.fromisoformat(text) if text else datetime.now(UTC).date()
    except ValueError:
        raise BadRequest("A day looks like 2026-11-22.") from None
    if not _shown(day):
        raise BadRequest(OUTSIDE)
    return day


def _shown(day: date) -> bool:
    """Whether the agenda shows ``day``: the weeks around it must exist too (years 1-9999)."""
    return 1900 <= day.year <= 2200


@router.get("/agenda")
async def agenda(
    request: Request,
    db: DB,
    visitor: MemberVisitor,
    view: Annotated[str, Query(pattern="^(week|month)$")] = "week",
    day: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    name = _name(visitor)
    focus = _day(day)
    if view == "week":
        first = focus - timedelta(days=focus.weekday())
        days = [first + timedelta(days=n) for n in range(7)]
        previous, following = first - timedelta(days=7), first + timedelta(days=7)
    else:
        first_of_month = focus.replace(day=1)
        first = first_of_month - timedelta(days=first_of_month.weekday())
        days = [first + timedelta(days=n) for n in range(42)]
        previous = (first_of_month - timedelta(days=1)).replace(day=1)
        following = (first_of_month + timedelta(days=32)).replace(day=1)
    start = datetime.combine(days[0], datetime.min.time()).astimezone()
    end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time()).astimezone()

    def load() -> tuple[list, list]:  # type: ignore[type-arg]
        calendars = store(request)
        calendars.ensure(name)
        return calendars.calendars(name), calendars.events(name, start, end)

    calendars, events = await anyio.to_thread.run_sync(load)
    by_day: dict[date, list] = {d: [] for d in days}  # type: ignore[type-arg]
    for event in events:
        first_day = event.start.astimezone().date()
        last_day = max(first_day, (event.end.astimezone() - timedelta(microseconds=1)).date())
        current = max(first_day, days[0])
        while current <= min(last_day, days[-1]):
            by_day[current].append(event)
            current += timedelta(days=1)
    if visitor.login is not None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        title = request.app.state.pages.gettext(request)("Agenda")
        workspace.remember(db, visitor.login, "agenda", here, item=focus.isoformat(), title=title)
    context = {
        "title": N_("Agenda"), "view": view, "days": days, "by_day": by_day, "focus": focus,
        "month": focus.month, "previous": previous, "following": following, "calendars": calendars,
        "today": datetime.now(UTC).date(),
    }  # fmt: skip
    return request.app.state.pages.render(request, "agenda.html", context)


@router.get("/agenda/event")
async def event_form(
    request: Request,
    visitor: MemberVisitor,
    calendar: Annotated[str, Query(max_length=200)] = "",
    uid: Annotated[str, Query(max_length=200)] = "",
    day: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    name = _name(visitor)

    def load():  # type: ignore[no-untyped-def]
        calendars = store(request)
        calendars.ensure(name)
        existing = calendars.event(name, calendar, uid) if uid else None
        return calendars.calendars(name), existing

    calendars, existing = await anyio.to_thread.run_sync(load)
    focus = _day(day)
    context = {"title": N_("Event"), "calendars": calendars, "event": existing, "chosen": calendar,
               "day": focus.isoformat()}  # fmt: skip
    return request.app.state.pages.render(request, "event.html", context)


@router.post("/agenda/event")
async def save_event(
    request: Request,
    visitor: MemberVisitor,
    calendar: Annotated[str, Form(max_length=200)],
    summary: Annotated[str, Form(max_length=300)],
    start: Annotated[str, Form(max_length=20)],
    end: Annotated[str, Form(max_length=20)],
    uid: Annotated[str, Form(max_length=200)] = "",
    location: Annotated[str, Form(max_length=300)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    etag: Annotated[str, Form(max_length=200)] = "",
    was: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    name = _name(visitor)
    try:
        # The form's times are the node's local time (the household's).
        begin = datetime.fromisoformat(start).astimezone() if "T" in start else None
        finish = datetime.fromisoformat(end).astimezone() if "T" in end else None
    except ValueError:
        begin = finish = None
    if begin is None or finish is None:
        raise BadRequest("Start and end look like 2026-11-22T18:30.")
    if not (_shown(begin.date()) and _shown(finish.date())):
        raise BadRequest(OUTSIDE)

    def save() -> str:
        return store(request).save_event(
            name, calendar, summary, begin, finish, uid=uid or None, location=location,
            description=description, etag=etag, was=was,
        )  # fmt: skip

    await anyio.to_thread.run_sync(save)
    return RedirectResponse(f"/agenda?day={begin.date().isoformat()}", status_code=303)


@router.get("/contacts")
async def contacts(request: Request, visitor: MemberVisitor) -> Response:
    name = _name(visitor)

    def load():  # type: ignore[no-untyped-def]
        calendars = store(request)
        calendars.ensure(name)
        return calendars.contacts(name)

    found = await anyio.to_thread.run_sync(load)
    return request.app.state.pages.render(
        request, "contacts.html", {"title": N_("Contacts"), "contacts": found}
    )

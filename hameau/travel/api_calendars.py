"""The home node's side of calendar sync, for a member's satellite: a calendar's events by
UID, each replaced or deleted only if unchanged since the satellite looked (else stale, and
reconciled again at the next round). Bearer token: the satellite's app password.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request

from hameau.accounts.models import Member
from hameau.calendar import merge as calendars
from hameau.errors import NotFound
from hameau.travel.api import MAX_BATCH
from hameau.web.auth import MemberVisitor, member_of
from hameau.web.openapi import errors

router = APIRouter(prefix="/api/travel", tags=["travel"])


def calendar_path(member: Member, name: str) -> str:
    found = calendars.calendar_path(member.name, name)
    if found is None:
        raise NotFound("No calendar called '%(name)s'.", name=name)
    return found


def _calendars(request: Request, member: Member) -> Any:
    store = request.app.state.calendars
    store.ensure(member.name)
    return store


@router.get("/calendars/{name}", responses=errors(404))
async def calendar_items(request: Request, visitor: MemberVisitor, name: str) -> dict[str, Any]:
    member = member_of(visitor)
    path = calendar_path(member, name)
    items = await anyio.to_thread.run_sync(
        lambda: _calendars(request, member).items(member.name, path)
    )
    return {"items": items}


class EventPut(BaseModel):
    text: str | None = Field(max_length=1 << 20)  # None: delete
    expect: str | None  # the SHA-256 of the event's text when the satellite looked (None: absent)


class EventPuts(BaseModel):
    events: dict[str, EventPut] = Field(max_length=MAX_BATCH)


@router.post("/calendars/{name}", responses=errors(400, 404))
async def calendar_apply(
    request: Request, visitor: MemberVisitor, name: str, body: EventPuts
) -> dict[str, list[str]]:
    """Set events by UID, each only if unchanged since the satellite looked."""
    member = member_of(visitor)
    path = calendar_path(member, name)

    def work() -> dict[str, list[str]]:
        wanted = {uid: (event.text, event.expect) for uid, event in body.events.items()}
        applied, stale = _calendars(request, member).set_if_unchanged(member.name, path, wanted)
        return {"applied": applied, "stale": stale}

    return await anyio.to_thread.run_sync(work)

"""JSON API of the accounts domain, for clients holding an app password (or a session)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request

from hameau.accounts import devices, members, sessions, tokens, workspace
from hameau.accounts.models import AppToken, Device, LoginSession, Member, Workspace
from hameau.errors import Forbidden, NotFound
from hameau.web.auth import DB, AdminVisitor, MemberVisitor, member_of
from hameau.web.openapi import RowId, errors

router = APIRouter(prefix="/api", tags=["accounts"])


class MemberOut(BaseModel):
    id: int
    name: str
    display_name: str
    is_admin: bool
    active: bool
    quota_bytes: int
    locale: str | None
    created_at: datetime

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls(
            id=member.id, name=member.name, display_name=member.display_name,
            is_admin=member.is_admin, active=member.active, quota_bytes=member.quota_bytes,
            locale=member.locale, created_at=member.created_at,
        )  # fmt: skip


class SessionOut(BaseModel):
    id: int
    device: str | None
    shared: bool
    user_agent: str
    address: str
    created_at: datetime
    last_seen_at: datetime
    current: bool

    @classmethod
    def of(cls, login: LoginSession, current: LoginSession | None) -> SessionOut:
        return cls(
            id=login.id, device=login.device.name if login.device else None, shared=login.shared,
            user_agent=login.user_agent, address=login.address, created_at=login.created_at,
            last_seen_at=login.last_seen_at, current=current is not None and current.id == login.id,
        )  # fmt: skip


class TokenOut(BaseModel):
    id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, token: AppToken) -> TokenOut:
        return cls(
            id=token.id, label=token.label, created_at=token.created_at,
            last_used_at=token.last_used_at, revoked=token.revoked_at is not None,
        )  # fmt: skip


class NewToken(BaseModel):
    label: str = Field(min_length=1, max_length=80)


class CreatedToken(TokenOut):
    secret: str = Field(description="Shown once; only its hash is kept.")


class DeviceOut(BaseModel):
    id: int
    name: str
    kind: str
    shared: bool
    acquired_on: date | None
    lifetime_years: int | None
    enrolled: bool

    @classmethod
    def of(cls, device: Device) -> DeviceOut:
        return cls(
            id=device.id, name=device.name, kind=device.kind, shared=device.shared,
            acquired_on=device.acquired_on, lifetime_years=device.lifetime_years,
            enrolled=device.secret_hash is not None,
        )  # fmt: skip


class Place(BaseModel):
    app: str = Field(min_length=1, max_length=40)
    path: str = Field(min_length=1, max_length=500, pattern=r"^/[^/\\]")
    item: str = Field(default="", max_length=200)
    title: str = Field(default="", max_length=200)


class PlaceOut(Place):
    device: str | None
    updated_at: datetime

    @classmethod
    def of(cls, place: Workspace) -> PlaceOut:
        return cls(
            app=place.app, path=place.path, item=place.item, title=place.title,
            device=place.device.name if place.device else None, updated_at=place.updated_at,
        )  # fmt: skip


@router.get("/me")
async def me(visitor: MemberVisitor) -> MemberOut:
    return MemberOut.of(member_of(visitor))


@router.get("/members", responses=errors(403))
async def list_members(db: DB, visitor: AdminVisitor) -> list[MemberOut]:
    return [MemberOut.of(member) for member in members.list_members(db)]


@router.get("/members/{member_id}", responses=errors(403, 404))
async def get_member(db: DB, visitor: MemberVisitor, member_id: RowId) -> MemberOut:
    me = member_of(visitor)
    if member_id != me.id and not me.is_admin:
        raise Forbidden("Only the home server's admins can see other members' accounts.")
    return MemberOut.of(members.get_member(db, member_id))


@router.get("/sessions")
async def list_sessions(request: Request, db: DB, visitor: MemberVisitor) -> list[SessionOut]:
    live = sessions.list_for_member(db, member_of(visitor), request.app.state.lifetimes)
    return [SessionOut.of(login, visitor.login) for login in live]


@router.delete("/sessions/{session_id}", status_code=204, responses=errors(404))
async def revoke_session(db: DB, visitor: MemberVisitor, session_id: RowId) -> None:
    sessions.revoke_for_member(db, member_of(visitor), session_id)


@router.get("/tokens")
async def list_tokens(db: DB, visitor: MemberVisitor) -> list[TokenOut]:
    return [TokenOut.of(token) for token in tokens.list_tokens(db, member_of(visitor))]


@router.post("/tokens", status_code=201, responses=errors(400))
async def create_token(db: DB, visitor: MemberVisitor, body: NewToken) -> CreatedToken:
    token, secret = tokens.create_token(db, member_of(visitor), body.label)
    return CreatedToken(**TokenOut.of(token).model_dump(), secret=secret)


@router.delete("/tokens/{token_id}", status_code=204, responses=errors(404))
async def revoke_token(db: DB, visitor: MemberVisitor, token_id: RowId) -> None:
    tokens.revoke_token(db, token_id, member=member_of(visitor))


@router.get("/devices")
async def list_devices(db: DB, visitor: MemberVisitor) -> list[DeviceOut]:
    return [DeviceOut.of(device) for device in devices.list_devices(db)]


@router.get("/workspace", responses=errors(404))
async def get_place(db: DB, visitor: MemberVisitor) -> PlaceOut:
    place = db.get(Workspace, member_of(visitor).id)
    if place is None:
        raise NotFound("Nothing has been opened yet.")
    return PlaceOut.of(place)


@router.put("/workspace", status_code=204, responses=errors(403))
async def put_place(db: DB, visitor: MemberVisitor, body: Place) -> None:
    """Apps record the item open (a note, a folder) so the member can resume elsewhere."""
    if visitor.login is None:
        raise Forbidden("Only a browser session has a place to resume.")
    workspace.remember(db, visitor.login, body.app, body.path, body.item, body.title)

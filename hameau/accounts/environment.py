"""The accounts part of a member's environment: who they are and how they log in.

    profile.json   name, display name, language, quota, when they joined, the password's
                   hash (Argon2: never the password), app passwords (label and hash), the
                   devices they own, where they left off

Import keeps the password hash and the app passwords' hashes, so the member logs in here with
the same password and their clients keep working once pointed at this node. It does not carry
the admin role (each household names its own admins), browser sessions, enrolment secrets of
devices (a browser is enrolled again at its new home) or revoked state of others' things.

A member already here under the same name is the same person only if they joined at the same
instant (an earlier import of the same archive keeps that date); anyone else is a name clash.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.members import LOCALES, check_name
from hameau.accounts.models import DEVICE_KINDS, AppToken, Device, Member, Workspace
from hameau.errors import Conflict
from hameau.node.datadir import Node
from hameau.node.db import utcnow
from hameau.node.environment import ArchiveReader, ArchiveWriter, Usage, damaged

PROFILE = "profile.json"


def _stamp(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _device(device: Device) -> dict[str, Any]:
    return {
        "name": device.name, "kind": device.kind, "acquired_on": str(device.acquired_on or ""),
        "lifetime_years": device.lifetime_years, "specs": device.specs,
        "retired_at": _stamp(device.retired_at),
    }  # fmt: skip


def export(node: Node, session: Session, member: Member, archive: ArchiveWriter) -> None:
    place = session.get(Workspace, member.id)
    owned = session.scalars(select(Device).where(Device.owner_id == member.id)).all()
    devices = {device.id: device.name for device in owned}
    tokens = session.scalars(select(AppToken).where(AppToken.member_id == member.id)).all()
    profile = {
        "name": member.name, "display_name": member.display_name, "locale": member.locale,
        "is_admin": member.is_admin, "quota_bytes": member.quota_bytes,
        "created_at": member.created_at.isoformat(), "password_hash": member.password_hash,
        "devices": [_device(device) for device in owned],
        "app_passwords": [
            {"label": t.label, "hash": t.token_hash, "created_at": _stamp(t.created_at),
             "revoked_at": _stamp(t.revoked_at), "device": devices.get(t.device_id or 0)}
            for t in tokens
        ],
        "workspace": {"app": place.app, "path": place.path, "title": place.title,
                      "item": place.item, "device": devices.get(place.device_id or 0)}
        if place else None,
    }  # fmt: skip
    archive.add_json(PROFILE, profile)


def read_profile(archive: ArchiveReader) -> dict[str, Any]:
    profile = archive.read_json(PROFILE)
    if not isinstance(profile, dict) or not isinstance(profile.get("name"), str):
        raise damaged("its profile cannot be read")
    return profile


def arrive(
    session: Session, profile: dict[str, Any], name: str, quota_bytes: int
) -> tuple[Member, bool]:
    """The member this archive is imported as: made if missing (with the archive's password
    hash and this node's ``quota_bytes``: each household decides its own storage); returns it
    and whether it was made. Another person of that name is refused."""
    name = check_name(name)
    joined = datetime.fromisoformat(profile["created_at"])
    found = session.scalar(select(Member).where(Member.name == name))
    if found is not None:
        if found.created_at != joined:
            raise Conflict(
                "A member named '%(name)s' already lives here; import under another name"
                " with --as NAME.",
                name=name,
            )
        return found, False
    member = Member(
        name=name, display_name=str(profile.get("display_name") or name.capitalize())[:80],
        password_hash=str(profile["password_hash"]), is_admin=False,
        quota_bytes=quota_bytes,
        locale=profile.get("locale") if profile.get("locale") in LOCALES else None,
        created_at=joined,
    )  # fmt: skip
    session.add(member)
    session.flush()
    return member, True


def _place_device(session: Session, member: Member, record: dict[str, Any]) -> Device:
    """The member's device of that name, made if missing (renamed if another's has it)."""
    for name in (record["name"], f"{record['name']} ({member.name})"[:80]):
        found = session.scalar(select(Device).where(Device.name == name))
        if found is not None and found.owner_id == member.id:
            return found
        if found is None:
            kind = record.get("kind") if record.get("kind") in DEVICE_KINDS else "terminal"
            acquired = record.get("acquired_on")
            device = Device(
                name=name, kind=kind, shared=False, owner_id=member.id,
                acquired_on=date.fromisoformat(acquired) if acquired else None,
                lifetime_years=record.get("lifetime_years"), specs=record.get("specs"),
                retired_at=datetime.fromisoformat(record["retired_at"])
                if record.get("retired_at") else None,
            )  # fmt: skip
            session.add(device)
            session.flush()
            return device
    raise Conflict("A device named '%(name)s' already exists.", name=record["name"])


def _import_tokens(
    session: Session, member: Member, tokens: list[dict[str, Any]], devices: dict[str, Device]
) -> None:
    for record in tokens:
        found = session.scalar(select(AppToken).where(AppToken.token_hash == record["hash"]))
        if found is not None and found.member_id != member.id:
            continue  # the same secret belongs to someone else here: never shared
        if found is None:
            found = AppToken(member_id=member.id, token_hash=record["hash"])
            session.add(found)
        found.label = str(record.get("label") or "app")[:80]
        created, revoked = record.get("created_at"), record.get("revoked_at")
        found.created_at = datetime.fromisoformat(created) if created else utcnow()
        found.revoked_at = datetime.fromisoformat(revoked) if revoked else None
        device = devices.get(record.get("device") or "")
        found.device_id = device.id if device else None


def _drop_unlisted(
    session: Session, member: Member, profile: dict[str, Any], devices: dict[str, Device]
) -> None:
    """Replace mode: the member's app passwords and devices the archive lacks (deleted at
    the other home) go here too; so does their place if the archive has none."""
    hashes = {record["hash"] for record in profile.get("app_passwords", [])}
    for token in session.scalars(select(AppToken).where(AppToken.member_id == member.id)):
        if token.token_hash not in hashes:
            session.delete(token)
    kept = {device.id for device in devices.values()}
    for device in session.scalars(select(Device).where(Device.owner_id == member.id)):
        if device.id not in kept:
            session.delete(device)
    if not profile.get("workspace") and (place := session.get(Workspace, member.id)):
        session.delete(place)


def import_(
    node: Node, session: Session, member: Member, archive: ArchiveReader, replace: bool = False
) -> None:
    """``replace`` (moving home's way back): what the archive lacks goes (`_drop_unlisted`)."""
    profile = read_profile(archive)
    member.display_name = str(profile.get("display_name") or member.display_name)[:80]
    if profile.get("locale") in LOCALES:
        member.locale = profile["locale"]
    devices = {
        record["name"]: _place_device(session, member, record)
        for record in profile.get("devices", [])
    }
    _import_tokens(session, member, profile.get("app_passwords", []), devices)
    if replace:
        _drop_unlisted(session, member, profile, devices)
    place = profile.get("workspace")
    if place:
        workspace = session.get(Workspace, member.id)
        if workspace is None:
            workspace = Workspace(member_id=member.id)
            session.add(workspace)
        workspace.app, workspace.path = str(place["app"])[:40], str(place["path"])[:500]
        workspace.title, workspace.item = (
            str(place.get("title", ""))[:200],
            str(place.get("item", ""))[:200],
        )
        device = devices.get(place.get("device") or "")
        workspace.device_id = device.id if device else None
    session.flush()


def usage(node: Node, session: Session, member: Member) -> Usage:
    tokens = session.scalar(select(func.count(AppToken.id)).where(AppToken.member_id == member.id))
    devices = session.scalar(select(func.count(Device.id)).where(Device.owner_id == member.id))
    place = 1 if session.get(Workspace, member.id) is not None else 0
    rows = 1 + int(tokens or 0) + int(devices or 0) + place
    return Usage(len(member.password_hash) + len(member.display_name), rows)

"""Devices: registering terminals, enrolling a browser as one, recognising it again."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hameau.accounts.models import DEVICE_KINDS, Device, Member
from hameau.accounts.secrets import digest, new_secret
from hameau.errors import BadRequest, Conflict, NotFound
from hameau.node.db import utcnow

ENROL_CODE_LIFETIME = timedelta(hours=24)


def _check_inventory(kind: str, acquired_on: date | None, lifetime_years: int | None) -> None:
    if kind not in DEVICE_KINDS:
        raise BadRequest(
            "The kind of device must be one of: %(kinds)s.", kinds=", ".join(DEVICE_KINDS)
        )
    if lifetime_years is not None and not 1 <= lifetime_years <= 50:
        raise BadRequest("The expected lifetime is a number of years between 1 and 50.")
    if acquired_on is not None and acquired_on > date.today():
        raise BadRequest("The acquisition date cannot be in the future.")


def add_device(
    session: Session,
    name: str,
    kind: str,
    shared: bool,
    *,
    owner: Member | None = None,
    acquired_on: date | None = None,
    lifetime_years: int | None = None,
    specs: dict[str, str] | None = None,
) -> Device:
    name = name.strip()
    if not name or len(name) > 80:
        raise BadRequest("A device name is 1 to 80 characters.")
    _check_inventory(kind, acquired_on, lifetime_years)
    if session.scalar(select(Device.id).where(Device.name == name)) is not None:
        raise Conflict("A device named '%(name)s' already exists.", name=name)
    device = Device(
        name=name,
        kind=kind,
        shared=shared,
        owner_id=None if shared or owner is None else owner.id,
        acquired_on=acquired_on,
        lifetime_years=lifetime_years,
        specs=specs or None,
    )
    session.add(device)
    session.flush()
    return device


def list_devices(session: Session, include_retired: bool = False) -> list[Device]:
    query = select(Device).order_by(Device.name)
    if not include_retired:
        query = query.where(Device.retired_at.is_(None))
    return list(session.scalars(query))


def get_device(session: Session, device_id: int) -> Device:
    device = session.get(Device, device_id)
    if device is None or device.retired_at is not None:
        raise NotFound("No such device.")
    return device


def find_device(session: Session, name: str) -> Device:
    device = session.scalar(
        select(Device).where(Device.name == name.strip(), Device.retired_at.is_(None))
    )
    if device is None:
        raise NotFound("No device named '%(name)s'.", name=name)
    return device


def enrol(device: Device) -> str:
    """Make this device's browser credential anew; any browser enrolled before is forgotten."""
    secret = new_secret()
    device.secret_hash = digest(secret)
    device.enrolled_at = utcnow()
    device.enrol_code_hash = None
    device.enrol_code_expires_at = None
    return secret


def create_enrol_code(device: Device) -> str:
    """A one-time code that enrols whichever browser opens its link first, within 24 hours."""
    code = new_secret()
    device.enrol_code_hash = digest(code)
    device.enrol_code_expires_at = utcnow() + ENROL_CODE_LIFETIME
    return code


def pending_enrolment(session: Session, code: str) -> Device:
    """The device a one-time enrolment code is for, while the code is unused and fresh."""
    device = (
        session.scalar(select(Device).where(Device.enrol_code_hash == digest(code)))
        if code and len(code) <= 100
        else None
    )
    if (
        device is None
        or device.retired_at is not None
        or device.enrol_code_expires_at is None
        or device.enrol_code_expires_at < utcnow()
    ):
        raise NotFound(
            "This enrolment link is unknown, used or expired; ask an admin for a new one."
        )
    return device


def enrolled_elsewhere(device: Device, secret_here: str | None) -> bool:
    """Whether another browser holds this device now (enrolling this one would drop it)."""
    if device.secret_hash is None:
        return False
    return not secret_here or digest(secret_here) != device.secret_hash


def enrol_with_code(session: Session, code: str) -> tuple[Device, str]:
    device = pending_enrolment(session, code)
    return device, enrol(device)


def recognise(session: Session, secret: str) -> Device | None:
    """The live device whose enrolled browser holds this secret, or None."""
    if not secret or len(secret) > 100:
        return None
    device = session.scalar(select(Device).where(Device.secret_hash == digest(secret)))
    if device is None or device.retired_at is not None:
        return None
    return device


def retire(device: Device) -> None:
    """Forget the device's browser; it stays in the inventory as retired."""
    device.retired_at = utcnow()
    device.secret_hash = None
    device.enrol_code_hash = None


def set_inventory(
    device: Device,
    kind: str,
    shared: bool,
    *,
    owner: Member | None = None,
    acquired_on: date | None = None,
    lifetime_years: int | None = None,
) -> None:
    """Correct a device's inventory fields (the footprint's page and `hameau impact device`)."""
    _check_inventory(kind, acquired_on, lifetime_years)
    device.kind, device.shared = kind, shared
    device.owner_id = None if shared or owner is None else owner.id
    device.acquired_on, device.lifetime_years = acquired_on, lifetime_years

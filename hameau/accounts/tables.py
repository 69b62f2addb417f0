"""The accounts' tables as SQLAlchemy Core sees them, for the short commands (no ORM).

`models.py` declares the tables (and the migrations follow it); these are light views of the
columns the listings read, checked against the models by tests/accounts/test_tables.py, so
they cannot drift. The queries here return rows with the attributes the models have.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Integer, String, column, select, table

from hameau.errors import N_, NotFound
from hameau.node.engine import UTCDateTime

DEVICE_KINDS = (
    N_("terminal"), N_("laptop"), N_("desktop"), N_("phone"), N_("tablet"), N_("box"), N_("server"),
)  # fmt: skip

members = table(
    "members",
    column("id", Integer), column("name", String), column("display_name", String),
    column("is_admin", Boolean), column("quota_bytes", BigInteger),
    column("disabled_at", UTCDateTime),
)  # fmt: skip
app_tokens = table(
    "app_tokens",
    column("id", Integer), column("member_id", Integer), column("label", String),
    column("created_at", UTCDateTime), column("last_used_at", UTCDateTime),
    column("revoked_at", UTCDateTime),
)  # fmt: skip
devices = table(
    "devices",
    column("id", Integer), column("name", String), column("kind", String),
    column("shared", Boolean), column("acquired_on", Date), column("lifetime_years", Integer),
    column("secret_hash", String), column("retired_at", UTCDateTime),
)  # fmt: skip


def list_members(connection: Any) -> list[Any]:
    """Every member, as `members.list_members` orders them."""
    query = select(members).order_by(members.c.display_name, members.c.name)
    return list(connection.execute(query))


def member_id(connection: Any, name: str) -> int:
    """The id of the member called ``name`` (as `members.find_member` finds them)."""
    found = connection.scalar(select(members.c.id).where(members.c.name == name.strip().lower()))
    if found is None:
        raise NotFound("No member named '%(name)s'.", name=name)
    return int(found)


def list_tokens(connection: Any, member: int) -> list[Any]:
    """A member's app passwords, as `tokens.list_tokens` orders them."""
    query = select(app_tokens).where(app_tokens.c.member_id == member).order_by(app_tokens.c.id)
    return list(connection.execute(query))


def list_devices(connection: Any) -> list[Any]:
    """The devices not retired, as `devices.list_devices` orders them."""
    query = select(devices).where(devices.c.retired_at.is_(None)).order_by(devices.c.name)
    return list(connection.execute(query))

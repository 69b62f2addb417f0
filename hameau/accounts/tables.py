"""The accounts' tables as the short commands read them: plain SQL, no SQLAlchemy.

`models.py` declares the tables (and the migrations follow it); these name the columns the
listings read, each with how its stored value is read back, and are checked against the
models by tests/accounts/test_tables.py, so they cannot drift. The listings run on the
standard library's sqlite3 (`node/reading.py:database`, about 0.13 s less than importing
SQLAlchemy, docs/benchmarks.md "Short commands"); `member_id` also on a SQLAlchemy
connection (`travel status`, the satellite's page). Rows have the attributes the models have.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NamedTuple

from hameau.errors import N_, NotFound
from hameau.node.reading import execute, utc

DEVICE_KINDS = (
    N_("terminal"), N_("laptop"), N_("desktop"), N_("phone"), N_("tablet"), N_("box"), N_("server"),
)  # fmt: skip


def _day(value: str | date | None) -> date | None:
    if isinstance(value, date):  # PostgreSQL's dates come back as dates
        return value
    return None if value is None else date.fromisoformat(value)


def _flag(value: int | None) -> bool:
    return bool(value)


def _same(value: Any) -> Any:
    return value


class Member(NamedTuple):
    id: int
    name: str
    display_name: str
    is_admin: bool
    quota_bytes: int
    disabled_at: datetime | None


class AppToken(NamedTuple):
    id: int
    member_id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class Device(NamedTuple):
    id: int
    name: str
    kind: str
    shared: bool
    acquired_on: date | None
    lifetime_years: int | None
    secret_hash: str | None
    retired_at: datetime | None


# Each light table: its name, its row class, how each column's stored value is read back
# (the test checks these against the models' column types).
READERS: dict[str, Callable[[Any], Any]] = {
    "when": utc, "day": _day, "flag": _flag, "same": _same,
}  # fmt: skip
members = ("members", Member, ("same", "same", "same", "flag", "same", "when"))
app_tokens = ("app_tokens", AppToken, ("same", "same", "same", "when", "when", "when"))
devices = (
    "devices", Device, ("same", "same", "same", "flag", "day", "same", "same", "when"),
)  # fmt: skip


def _rows(connection: Any, light: tuple[str, Any, tuple[str, ...]], where: str = "",
          order: str = "", params: tuple[Any, ...] = ()) -> list[Any]:  # fmt: skip
    name, row, readers = light
    columns = ", ".join(row._fields)
    sql = f"SELECT {columns} FROM {name} {where} {order}"  # noqa: S608 (names of this module)
    found = execute(connection, sql, params)
    convert = [READERS[reader] for reader in readers]
    return [row(*(read(value) for read, value in zip(convert, values, strict=True)))
            for values in found]  # fmt: skip


def list_members(connection: Any) -> list[Member]:
    """Every member, as `members.list_members` orders them."""
    return _rows(connection, members, order="ORDER BY display_name, name")


def member_id(connection: Any, name: str) -> int:
    """The id of the member called ``name`` (as `members.find_member` finds them)."""
    found = execute(
        connection, "SELECT id FROM members WHERE name = ?", (name.strip().lower(),)
    ).fetchone()
    if found is None:
        raise NotFound("No member named '%(name)s'.", name=name)
    return int(found[0])


def list_tokens(connection: Any, member: int) -> list[AppToken]:
    """A member's app passwords, as `tokens.list_tokens` orders them."""
    return _rows(connection, app_tokens, "WHERE member_id = ?", "ORDER BY id", (member,))


def list_devices(connection: Any) -> list[Device]:
    """The devices not retired, as `devices.list_devices` orders them."""
    return _rows(connection, devices, "WHERE retired_at IS NULL", "ORDER BY name")

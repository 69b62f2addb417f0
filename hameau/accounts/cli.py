"""Commands for members, app passwords and devices."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from hameau.accounts import tables
from hameau.errors import BadRequest
from hameau.node.cli import console, data_dir_option, node_session
from hameau.node.reading import database

# Plain click, not Typer, for a short start (Typer builds its converters with pydantic). The
# listings read through the standard library's sqlite3 (accounts/tables.py, node/reading.py:
# no SQLAlchemy); the commands that change something import the ORM and the services when
# they run.
member_app = click.Group("member", help="Members of the household.", no_args_is_help=True)
token_app = click.Group(
    "token", help="App passwords for clients (WebDAV, CalDAV, API).", no_args_is_help=True
)
device_app = click.Group("device", help="The household's devices.", no_args_is_help=True)


def _table(*columns: str) -> Any:
    from rich.table import Table  # only for the listings

    return Table(*columns)


def _read_password(from_stdin: bool) -> tuple[str, bool]:
    """The new member's password, and whether it was generated (and so must be shown)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password, False
    import secrets

    return secrets.token_hex(6), True


@member_app.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the member an admin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--display-name", default="", help="Name shown to others.")
@click.option("--quota-mb", type=int, default=None, help="Storage quota in MB.")
@data_dir_option
def member_add(
    name: str, admin: bool, password_stdin: bool, display_name: str, quota_mb: int | None,
    data_dir: Path | None,
) -> None:  # fmt: skip
    """Add a member named NAME (lowercase letters, digits, - or _); a password is generated
    and shown if none is given."""
    from hameau.accounts import members

    password, generated = _read_password(password_stdin)
    with node_session(data_dir) as (node, session):
        quota = quota_mb if quota_mb is not None else node.settings.default_quota_mb
        member = members.add_member(
            session, name, password, display_name=display_name, admin=admin,
            quota_bytes=quota * 1024 * 1024,
        )  # fmt: skip
    console.print(f"Member [bold]{member.name}[/bold] added{' (admin)' if admin else ''}.")
    if generated:
        console.print(f"Password: [bold]{password}[/bold]  (give it to them; they can change it)")


@member_app.command("list")
@data_dir_option
def member_list(data_dir: Path | None) -> None:
    """List the members."""
    table = _table("name", "display name", "role", "quota (MB)", "state")
    with database(data_dir) as connection:
        for member in tables.list_members(connection):
            table.add_row(
                member.name, member.display_name, "admin" if member.is_admin else "member",
                str(member.quota_bytes // (1024 * 1024)),
                "active" if member.disabled_at is None else "disabled",
            )  # fmt: skip
    console.print(table)


@member_app.command("disable")
@click.argument("name")
@data_dir_option
def member_disable(name: str, data_dir: Path | None) -> None:
    """Disable a member: they cannot log in and their sessions and app passwords end."""
    from hameau.accounts import members

    with node_session(data_dir) as (_, session):
        members.set_disabled(session, members.find_member(session, name), True)
    console.print(f"Member {name} disabled.")


@member_app.command("enable")
@click.argument("name")
@data_dir_option
def member_enable(name: str, data_dir: Path | None) -> None:
    """Enable a disabled member again."""
    from hameau.accounts import members

    with node_session(data_dir) as (_, session):
        members.set_disabled(session, members.find_member(session, name), False)
    console.print(f"Member {name} enabled.")


@token_app.command("create")
@click.argument("member")
@click.option("--label", required=True, help="What it is for, e.g. 'phone calendar'.")
@data_dir_option
def token_create(member: str, label: str, data_dir: Path | None) -> None:
    """Create an app password and print it (it is shown only once)."""
    from hameau.accounts import members, tokens

    with node_session(data_dir) as (_, session):
        token, secret = tokens.create_token(session, members.find_member(session, member), label)
    console.print(
        f"App password {token.id} ({token.label}) for {member}:", style="dim", soft_wrap=True
    )
    click.echo(secret)


@token_app.command("list")
@click.argument("member")
@data_dir_option
def token_list(member: str, data_dir: Path | None) -> None:
    """List a member's app passwords."""
    table = _table("id", "label", "created", "last used", "state")
    with database(data_dir) as connection:
        for token in tables.list_tokens(connection, tables.member_id(connection, member)):
            table.add_row(
                str(token.id), token.label, f"{token.created_at:%Y-%m-%d %H:%M}",
                f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never",
                "revoked" if token.revoked_at else "active",
            )  # fmt: skip
    console.print(table)


@token_app.command("revoke")
@click.argument("token_id", metavar="ID", type=click.IntRange(1, 2**63 - 1))
@data_dir_option
def token_revoke(token_id: int, data_dir: Path | None) -> None:
    """Revoke an app password; it stops working at once."""
    from hameau.accounts import tokens

    with node_session(data_dir) as (_, session):
        tokens.revoke_token(session, token_id)
    console.print(f"App password {token_id} revoked.")


def parse_acquired(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest("The acquisition date must look like 2021-03-15.") from None


@device_app.command("add")
@click.argument("name")
@click.option("--kind", required=True, help=f"One of: {', '.join(tables.DEVICE_KINDS)}.")
@click.option("--shared/--personal", default=None, help="Shared by the household, or one member's.")
@click.option("--owner", default=None, help="The member owning a personal device.")
@click.option("--acquired", default=None, help="Acquisition date, YYYY-MM-DD.")
@click.option("--lifetime-years", type=int, default=None, help="Expected lifetime in years.")
@data_dir_option
def device_add(
    name: str, kind: str, shared: bool | None, owner: str | None, acquired: str | None,
    lifetime_years: int | None, data_dir: Path | None,
) -> None:  # fmt: skip
    """Register a device of the household."""
    if shared is None:
        raise BadRequest("Say whether the device is --shared or --personal.")
    from hameau.accounts import devices, members

    with node_session(data_dir) as (_, session):
        owner_member = members.find_member(session, owner) if owner else None
        device = devices.add_device(
            session, name, kind, shared, owner=owner_member,
            acquired_on=parse_acquired(acquired), lifetime_years=lifetime_years,
        )  # fmt: skip
    console.print(
        f"Device [bold]{device.name}[/bold] added ({kind}, {'shared' if shared else 'personal'})."
    )


@device_app.command("list")
@data_dir_option
def device_list(data_dir: Path | None) -> None:
    """List the devices."""
    table = _table("id", "name", "kind", "use", "acquired", "lifetime", "browser")
    with database(data_dir) as connection:
        for device in tables.list_devices(connection):
            table.add_row(
                str(device.id), device.name, device.kind, "shared" if device.shared else "personal",
                str(device.acquired_on or ""), f"{device.lifetime_years} y" if device.lifetime_years else "",
                "enrolled" if device.secret_hash else "not enrolled",
            )  # fmt: skip
    console.print(table)


@device_app.command("enrol-link")
@click.argument("name")
@click.option(
    "--url", default="http://127.0.0.1:8080", show_default=True,
    help="The node's address as the device reaches it.",
)  # fmt: skip
@data_dir_option
def device_enrol_link(name: str, url: str, data_dir: Path | None) -> None:
    """Print a one-time link (valid 24 h) that enrols the browser opening it as this device."""
    from hameau.accounts import devices

    with node_session(data_dir) as (_, session):
        code = devices.create_enrol_code(devices.find_device(session, name))
    click.echo(f"{url.rstrip('/')}/devices/enrol?code={code}")

"""Commands for members, app passwords and devices."""

from __future__ import annotations

import secrets
import sys
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from hameau.accounts import devices, members, tokens
from hameau.accounts.models import DEVICE_KINDS
from hameau.errors import BadRequest
from hameau.node.cli import DataDirOption, console, node_session

member_app = typer.Typer(help="Members of the household.", no_args_is_help=True)
token_app = typer.Typer(
    help="App passwords for clients (WebDAV, CalDAV, API).", no_args_is_help=True
)
device_app = typer.Typer(help="The household's devices.", no_args_is_help=True)


def _read_password(from_stdin: bool) -> tuple[str, bool]:
    """The new member's password, and whether it was generated (and so must be shown)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password, False
    return secrets.token_hex(6), True


@member_app.command("add")
def member_add(
    name: Annotated[str, typer.Argument(help="Login name: lowercase letters, digits, - or _.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the member an admin.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    display_name: Annotated[str, typer.Option(help="Name shown to others.")] = "",
    quota_mb: Annotated[int | None, typer.Option(help="Storage quota in MB.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add a member (a password is generated and shown if none is given)."""
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
def member_list(data_dir: DataDirOption = None) -> None:
    """List the members."""
    table = Table("name", "display name", "role", "quota (MB)", "state")
    with node_session(data_dir) as (_, session):
        for member in members.list_members(session):
            table.add_row(
                member.name, member.display_name, "admin" if member.is_admin else "member",
                str(member.quota_bytes // (1024 * 1024)), "active" if member.active else "disabled",
            )  # fmt: skip
    console.print(table)


@member_app.command("disable")
def member_disable(name: str, data_dir: DataDirOption = None) -> None:
    """Disable a member: they cannot log in and their sessions and app passwords end."""
    with node_session(data_dir) as (_, session):
        members.set_disabled(session, members.find_member(session, name), True)
    console.print(f"Member {name} disabled.")


@member_app.command("enable")
def member_enable(name: str, data_dir: DataDirOption = None) -> None:
    """Enable a disabled member again."""
    with node_session(data_dir) as (_, session):
        members.set_disabled(session, members.find_member(session, name), False)
    console.print(f"Member {name} enabled.")


@token_app.command("create")
def token_create(
    member: str,
    label: Annotated[str, typer.Option(help="What it is for, e.g. 'phone calendar'.")],
    data_dir: DataDirOption = None,
) -> None:
    """Create an app password and print it (it is shown only once)."""
    with node_session(data_dir) as (_, session):
        token, secret = tokens.create_token(session, members.find_member(session, member), label)
    console.print(
        f"App password {token.id} ({token.label}) for {member}:", style="dim", soft_wrap=True
    )
    typer.echo(secret)


@token_app.command("list")
def token_list(member: str, data_dir: DataDirOption = None) -> None:
    """List a member's app passwords."""
    table = Table("id", "label", "created", "last used", "state")
    with node_session(data_dir) as (_, session):
        for token in tokens.list_tokens(session, members.find_member(session, member)):
            table.add_row(
                str(token.id), token.label, f"{token.created_at:%Y-%m-%d %H:%M}",
                f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never",
                "revoked" if token.revoked_at else "active",
            )  # fmt: skip
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID")], data_dir: DataDirOption = None
) -> None:
    """Revoke an app password; it stops working at once."""
    with node_session(data_dir) as (_, session):
        tokens.revoke_token(session, token_id)
    console.print(f"App password {token_id} revoked.")


def _parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest("The acquisition date must look like 2021-03-15.") from None


@device_app.command("add")
def device_add(
    name: str,
    kind: Annotated[str, typer.Option(help=f"One of: {', '.join(DEVICE_KINDS)}.")],
    shared: Annotated[
        bool | None,
        typer.Option("--shared/--personal", help="Shared by the household, or one member's."),
    ] = None,
    owner: Annotated[str | None, typer.Option(help="The member owning a personal device.")] = None,
    acquired: Annotated[str | None, typer.Option(help="Acquisition date, YYYY-MM-DD.")] = None,
    lifetime_years: Annotated[int | None, typer.Option(help="Expected lifetime in years.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Register a device of the household."""
    if shared is None:
        raise BadRequest("Say whether the device is --shared or --personal.")
    with node_session(data_dir) as (_, session):
        owner_member = members.find_member(session, owner) if owner else None
        device = devices.add_device(
            session, name, kind, shared, owner=owner_member,
            acquired_on=_parse_date(acquired), lifetime_years=lifetime_years,
        )  # fmt: skip
    console.print(
        f"Device [bold]{device.name}[/bold] added ({kind}, {'shared' if shared else 'personal'})."
    )


@device_app.command("list")
def device_list(data_dir: DataDirOption = None) -> None:
    """List the devices."""
    table = Table("id", "name", "kind", "use", "acquired", "lifetime", "browser")
    with node_session(data_dir) as (_, session):
        for device in devices.list_devices(session):
            table.add_row(
                str(device.id), device.name, device.kind, "shared" if device.shared else "personal",
                str(device.acquired_on or ""), f"{device.lifetime_years} y" if device.lifetime_years else "",
                "enrolled" if device.secret_hash else "not enrolled",
            )  # fmt: skip
    console.print(table)


@device_app.command("enrol-link")
def device_enrol_link(
    name: str,
    url: Annotated[
        str, typer.Option(help="The node's address as the device reaches it.")
    ] = "http://127.0.0.1:8080",
    data_dir: DataDirOption = None,
) -> None:
    """Print a one-time link (valid 24 h) that enrols the browser opening it as this device."""
    with node_session(data_dir) as (_, session):
        code = devices.create_enrol_code(devices.find_device(session, name))
    typer.echo(f"{url.rstrip('/')}/devices/enrol?code={code}")

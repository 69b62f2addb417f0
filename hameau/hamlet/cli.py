"""`hameau hamlet invite|join|list|leave|ping`: pairing this node with other homes' nodes."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from hameau.errors import BadRequest
from hameau.hamlet import client, service
from hameau.hamlet.answers import check_answer
from hameau.hamlet.errors import InvitationRefused
from hameau.hamlet.signing import (
    AnswerCheck,
    fingerprint_of,
    node_id_from_fingerprint,
    public_key,
)
from hameau.node.cli import console, node_session
from hameau.node.cli_typer import DataDirOption
from hameau.node.datadir import Node
from hameau.node.peer import STATUS, PeerFailed

hamlet_app = typer.Typer(
    help="The hamlet: pair this node with other homes' nodes, list them, leave one.",
    no_args_is_help=True,
)
AddressOption = Annotated[
    str | None,
    typer.Option(
        help="This node's address as the other node reaches it, e.g. http://192.168.1.20:8080"
        " [default: http://HOST:PORT from the settings].",
        show_default=False,
    ),
]
said = Console(stderr=True, highlight=False, soft_wrap=True)


def _local_only(host: str) -> bool:
    """An address other machines cannot use: loopback, or "every interface"."""
    try:
        found = ipaddress.ip_address(host)
    except ValueError:
        return False
    return found.is_loopback or found.is_unspecified


def _address(node: Node, given: str | None) -> str:
    if given:
        return given
    host = node.settings.host
    if host == "localhost" or _local_only(host):
        said.print(
            f"This node listens on {host}: other machines cannot use that address; give the"
            " one they reach it at with --address."
        )
    return f"http://{host}:{node.settings.port}"


def _inviter_check(given: service.Invitation) -> AnswerCheck:
    """An answer to a pairing must come from the key the invitation's fingerprint names."""
    audience = node_id_from_fingerprint(given.fingerprint)

    def check(response: httpx.Response, nonce: str) -> None:
        if response.status_code >= 400:
            return
        try:
            key = base64.b64decode(str(response.json().get("public_key", "")))
        except (ValueError, AttributeError):
            key = b""
        if fingerprint_of(key) != given.fingerprint:
            raise BadRequest(
                "The server at %(address)s is not the one that made this invitation (its key"
                " differs); nothing was paired here.",
                address=given.address,
            )
        check_answer(response, public_key(base64.b64encode(key).decode()), audience, nonce)

    return check


@hamlet_app.command("invite")
def invite(
    address: AddressOption = None,
    hours: Annotated[float, typer.Option(help="Hours the invitation stays valid.")] = 24,
    data_dir: DataDirOption = None,
) -> None:
    """Print a one-time invitation for another node (give it to its admin, who runs `hameau
    hamlet join`)."""
    with node_session(data_dir) as (node, db):
        found = service.invite(db, node.identity.public_bytes, _address(node, address), hours)
    print(found.text())
    said.print(
        f"One use, until {found.expires:%Y-%m-%d %H:%M} UTC. On the other node:"
        " [bold]hameau hamlet join INVITATION[/bold]"
    )


@hamlet_app.command("join")
def join(
    invitation: Annotated[str, typer.Argument(help="The line `hameau hamlet invite` printed.")],
    address: AddressOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Pair with the node that made this invitation: each pins the other's key."""
    given = service.parse(invitation)
    with node_session(data_dir) as (node, db):
        body = {
            "secret": given.secret, "name": node.name, "address": _address(node, address),
            "public_key": node.identity.public_key_b64,
        }  # fmt: skip
        audience = node_id_from_fingerprint(given.fingerprint)
        with client.to_address(node, given.address, audience, _inviter_check(given)) as peer:
            try:
                answer = peer.call("POST", "/api/hamlet/pair", json=body)
            except PeerFailed as failed:
                if failed.kind == STATUS and failed.code == 401:
                    raise InvitationRefused(
                        "The other home server refused this invitation (unknown, already used or"
                        " expired); ask its admin for a new one."
                    ) from None
                raise
        service.pin(db, str(answer["public_key"]), str(answer["name"]), given.address)
        console.print(f"Paired with [bold]{answer['name']}[/bold] ({answer['node_id']}).")


@hamlet_app.command("list")
def list_peers(data_dir: DataDirOption = None) -> None:
    """List the paired nodes, and those left."""
    table = Table("name", "node id", "address", "state", "paired", "last seen")
    with node_session(data_dir) as (_, db):
        for peer in service.peers(db):
            state = "left" if peer.revoked_at else peer.state
            seen = f"{peer.last_seen_at:%Y-%m-%d %H:%M}" if peer.last_seen_at else "never"
            table.add_row(
                peer.name, peer.node_id, peer.address, state,
                f"{peer.paired_at:%Y-%m-%d %H:%M}", seen,
            )  # fmt: skip
    console.print(table)


@hamlet_app.command("leave")
def leave(
    peer: Annotated[str, typer.Argument(help="The peer's name or node id.")],
    data_dir: DataDirOption = None,
) -> None:
    """Stop trusting a paired node, at once: its next request is refused."""
    with node_session(data_dir) as (_, db):
        found = service.find(db, peer)
        service.leave(db, found)
    console.print(f"Left [bold]{found.name}[/bold]: its requests are refused from now on.")


@hamlet_app.command("ping")
def ping(
    peer: Annotated[str, typer.Argument(help="The peer's name or node id.")],
    data_dir: DataDirOption = None,
) -> None:
    """Check that a paired node is up and still trusts this one (a signed request)."""
    with node_session(data_dir) as (node, db):
        found = service.find(db, peer)
        with client.to_peer(node, found) as peer_client:
            try:
                answer = peer_client.call("GET", "/api/hamlet/ping")
            except PeerFailed as failed:
                found.state = "refused" if failed.code == 401 else "down"
                db.commit()
                raise
        found.state, found.last_seen_at = "up", datetime.now(UTC)
    console.print(f"{answer['name']} answered: it knows this node as {answer['peer']}.")


@hamlet_app.command("visits")
def visits_of(
    member: Annotated[str, typer.Argument(help="The member's name.")],
    data_dir: DataDirOption = None,
) -> None:
    """A member's visits to paired homes' shared terminals, ongoing ones first."""
    from hameau.accounts.members import find_member
    from hameau.accounts.sessions import Lifetimes
    from hameau.hamlet import visits

    table = Table("id", "home", "device", "started", "minutes", "state")
    with node_session(data_dir) as (node, db):
        found = visits.for_member(
            db, find_member(db, member), Lifetimes.from_settings(node.settings)
        )
        for visit in found:
            state = f"ended ({visit.ended_by})" if visit.ended_at else "ongoing"
            table.add_row(
                str(visit.id), visit.peer_name, visit.device_label or "-",
                f"{visit.started_at:%Y-%m-%d %H:%M}", str(visits.minutes(visit)), state,
            )  # fmt: skip
    console.print(table)

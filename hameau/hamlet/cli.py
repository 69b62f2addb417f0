"""`hameau hamlet invite|join|list|leave|ping`: pairing this node with other homes' nodes."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hameau.hamlet import client, health, pairing, service
from hameau.hamlet.models import HamletPeer
from hameau.node import tls
from hameau.node.cli import console, node_session
from hameau.node.cli_typer import DataDirOption
from hameau.node.datadir import Node

hamlet_app = typer.Typer(
    help="The hamlet: pair this node with other homes' nodes, list them, leave one.",
    no_args_is_help=True,
)
AddressOption = Annotated[
    str | None,
    typer.Option(
        help="This node's address as the other node reaches it, e.g. https://192.168.1.20:8080"
        " [default: https://HOST:PORT from the settings].",
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
    scheme = "https" if tls.enabled(node.settings) else "http"  # refused, saying: --tls
    return f"{scheme}://{host}:{node.settings.port}"


@hamlet_app.command("invite")
def invite(
    address: AddressOption = None,
    hours: Annotated[float, typer.Option(help="Hours the invitation stays valid.")] = 24,
    data_dir: DataDirOption = None,
) -> None:
    """Print a one-time invitation for another node (give it to its admin, who runs `hameau
    hamlet join`)."""
    with node_session(data_dir) as (node, db):
        found = service.invite(
            db, node.identity.public_bytes, _address(node, address), hours,
            client.own_fingerprint(node),
        )  # fmt: skip
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
    service.parse(invitation)  # a garbled line is said before the node is opened
    with node_session(data_dir) as (node, db):
        found = pairing.join(node, db, invitation, _address(node, address))
        console.print(f"Paired with [bold]{found.name}[/bold] ({found.node_id}).")


def _when(moment: datetime | None, never: str = "never") -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}" if moment else never


def _backoff(peer: HamletPeer, now: datetime) -> str:
    """What the last calls found, for a peer left alone after failures (else "")."""
    if peer.revoked_at or not peer.failures or not peer.next_try_at:
        return ""
    when = "now" if peer.next_try_at <= now else f"{peer.next_try_at:%H:%M:%S} UTC"
    error = health.last_error(peer, str) or ""
    return f"{peer.name}: {peer.state}, {peer.failures} failed in a row, next try {when}. {error}"


@hamlet_app.command("list")
def list_peers(data_dir: DataDirOption = None) -> None:
    """List the paired nodes, and those left, with what the last call to each found (and,
    after failures, when each will be tried again)."""
    table = Table("name", "node id", "address", "state", "paired", "last seen")
    now = datetime.now(UTC)
    with node_session(data_dir) as (_, db):
        found = service.peers(db)
        for peer in found:
            table.add_row(
                peer.name, peer.node_id, peer.address, "left" if peer.revoked_at else peer.state,
                _when(peer.paired_at), _when(peer.last_seen_at),
            )  # fmt: skip
        notes = [note for note in (_backoff(peer, now) for peer in found) if note]
    console.print(table)
    for note in notes:
        console.print(note, soft_wrap=True, highlight=False, markup=False)


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
    """Check that a paired node is up and still trusts this one (a signed request, tried even
    while the peer is left alone after a failure); its state is recorded."""
    with node_session(data_dir) as (node, db):
        found = service.find(db, peer)
        with client.to_peer(node, found, always=True) as peer_client:
            answer = peer_client.call("GET", "/api/hamlet/ping")  # its outcome is recorded
    console.print(f"{answer['name']} answered: it knows this node as {answer['peer']}.")


@hamlet_app.command("nearby")
def nearby(
    seconds: Annotated[float, typer.Option(help="Seconds to listen for announcements.")] = 3,
    data_dir: DataDirOption = None,
) -> None:
    """List the home servers announcing themselves on this local network (mDNS). Being listed
    proves nothing: pairing still needs an invitation from the other home's admin."""
    from hameau.hamlet import nearby as found_nearby

    with node_session(data_dir) as (node, db):
        pinned = found_nearby.pinned_peers(db)
        own_id = node.identity.node_id
    try:
        homes = found_nearby.mark_paired(found_nearby.browse(seconds, own_id), pinned)
    except OSError as error:
        said.print(f"Could not listen on the local network ({error}); check its multicast.")
        raise typer.Exit(1) from None
    if not homes:
        console.print("No home found nearby.")
        return
    for home in homes:  # lines, not a table: ids and fingerprints are never cut
        print(f"{home.name}\t{home.address}")
        print(f"  node id {home.node_id}, key fingerprint {home.fingerprint}")
        if home.paired:
            print(f"  already paired with this node, as {home.paired} (node id {home.node_id})")
            if home.paired_address != home.address:
                print(f"  paired at {home.paired_address}: requests go there, not here")
        else:
            print("  not paired: pairing still needs an invitation from its admin")


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

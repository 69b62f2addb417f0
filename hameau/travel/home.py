"""Talking to the home node: its travel API over HTTP, and what its refusals mean here.

A satellite has one client to its home (a `node.peer.Peer`, with the satellite's credential);
the sync engine and a satellite's pack, status and return (lifecycle.py) go through `Home`,
which says what a failed call means here ("your changes stay here").
"""

from __future__ import annotations

from typing import Any

from hameau.errors import BadRequest, HameauError
from hameau.node.blobs import BlobDamaged
from hameau.node.peer import GARBLED, Peer, PeerFailed
from hameau.travel import wire
from hameau.travel.errors import HomeMoved, HomeUnreachable, SyncFailed, WrongPassword
from hameau.travel.satellite import Satellite

CHANGES_PAGE = 5000  # the home's changes asked for at a time
__all__ = [
    "CHANGES_PAGE", "Home", "HomeMoved", "HomeUnreachable", "SyncFailed", "WrongPassword", "client_for",
    "http_client",
]  # fmt: skip


class Home:
    """The home node's travel API, through a `Peer` (over the network, or a test's app)."""

    def __init__(self, peer: Peer, page_size: int = CHANGES_PAGE) -> None:
        self.peer = peer
        self.address = peer.address
        self.page_size = page_size  # changes asked for at a time (a test asks for 1)

    def call(self, method: str, url: str, **options: Any) -> Any:
        try:
            return self.peer.call(method, url, **options)
        except PeerFailed as error:
            raise self.said(error) from None

    def enrol(self, body: dict[str, Any]) -> Any:
        """Pack's first call, a login: a refusal is a wrong password, not a revoked satellite,
        and a home out of reach means nothing was packed (there is no later sync to promise)."""
        try:
            return self.peer.call("POST", "/api/travel/satellites", json=body)
        except PeerFailed as error:
            if not error.answered:
                raise HomeUnreachable(
                    "The home node at %(url)s cannot be reached (%(why)s); nothing was packed."
                    " Check the address and that home is up, then run this again.",
                    url=self.address,
                    why=error.why,
                ) from None
            if error.code == 401:
                raise WrongPassword(
                    "The home node refused this member name and password (or the account is"
                    " disabled); nothing was packed. Check them and run this again."
                ) from None
            raise self.said(error) from None

    def said(self, error: PeerFailed) -> HameauError:
        """What a failed call to home means for the satellite, in one sentence."""
        if not error.answered:
            return HomeUnreachable(
                "The home node at %(url)s cannot be reached (%(why)s); your changes stay here"
                " and will be sent at the next sync.",
                url=self.address,
                why=error.why,
            )
        if error.code in (301, 308) and error.moved_to:
            return HomeMoved("Your home moved to %(to)s.", to=error.moved_to)
        if error.code == 401:
            return SyncFailed(
                "The home node no longer accepts this satellite's credential (revoked?);"
                " your changes stay here: pack a new satellite and copy them over."
            )
        if error.kind == GARBLED:
            return SyncFailed(error.message, **error.params)
        return SyncFailed(
            "The home node answered %(status)s: %(why)s", status=error.code, why=error.why
        )

    def fetch(self, store: Any, digests: list[str]) -> int:
        """Bring these contents into the local store; returns the bytes received."""
        receiver = wire.Receiver(store, allowed=set(digests))
        try:
            with self.peer.stream(
                "POST", "/api/travel/blobs/fetch", json={"digests": digests}
            ) as response:
                for chunk in response.iter_bytes(wire.READ):
                    receiver.feed(chunk)
            receiver.close()
        except PeerFailed as error:
            receiver.abort()
            raise self.said(error) from None
        except wire.WireError as error:
            receiver.abort()
            raise SyncFailed(
                "Content from the home node was refused: %(why)s.", why=str(error)
            ) from None
        return receiver.total

    def send(self, store: Any, digests: list[str]) -> dict[str, Any]:
        """Send these contents home; the answer lists those it had no room for."""
        try:
            answer = self.call(
                "POST", "/api/travel/blobs/upload", content=wire.send(store, digests),
                headers={"Content-Type": "application/octet-stream"},
            )  # fmt: skip
        except BlobDamaged as damage:  # the body was cut before its bytes left
            raise SyncFailed(
                "A file's content is %(how)s on this machine, so it was not sent; run "
                "`hameau check` here and restore the file from an earlier version.",
                how=damage.reason,
            ) from None
        return answer or {}


def http_client(address: str, timeout: float = 60) -> Peer:
    """A client to the home node at ``address`` (checked to be an http(s) address)."""
    if not address.startswith(("http://", "https://")):
        raise BadRequest("The home server's address starts with http:// or https://.")
    # The command line speaks English: home's refusals come back in English.
    return Peer(address, timeout=timeout, headers={"Accept-Language": "en"})


def client_for(satellite: Satellite, timeout: float = 60) -> Peer:
    client = http_client(satellite.home, timeout)
    client.headers["Authorization"] = f"Bearer {satellite.token}"
    return client

"""Talking to the home node: its travel API over HTTP, and what its refusals mean here.

A satellite has one client to its home (httpx, with the satellite's credential); the sync
engine (sync.py) and a satellite's pack, status and return (lifecycle.py) go through `Home`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hameau.errors import BadRequest, HameauError
from hameau.node.blobs import BlobDamaged
from hameau.travel import wire
from hameau.travel.satellite import Satellite

if TYPE_CHECKING:
    import httpx

CHANGES_PAGE = 5000  # the home's changes asked for at a time


class HomeUnreachable(HameauError):
    status = 503


class SyncFailed(HameauError):
    status = 502


class WrongPassword(HameauError):
    status = 401


class Home:
    """The home node's travel API, through an httpx client (a real one, or a test's)."""

    def __init__(self, client: httpx.Client, address: str, page_size: int = CHANGES_PAGE) -> None:
        self.client = client
        self.address = address
        self.page_size = page_size  # changes asked for at a time (a test asks for 1)

    def call(self, method: str, url: str, **options: Any) -> Any:
        import httpx

        try:
            response = self.client.request(method, url, **options)
        except httpx.TransportError as error:
            raise self.unreachable(error) from None
        return self._answer(response)

    def enrol(self, body: dict[str, Any]) -> Any:
        """Pack's first call, a login: a refusal is a wrong password, not a revoked satellite,
        and a home out of reach means nothing was packed (there is no later sync to promise)."""
        import httpx

        try:
            response = self.client.post("/api/travel/satellites", json=body)
        except httpx.TransportError as error:
            raise HomeUnreachable(
                "The home node at %(url)s cannot be reached (%(why)s); nothing was packed."
                " Check the address and that home is up, then run this again.",
                url=self.address,
                why=type(error).__name__,
            ) from None
        if response.status_code == 401:
            raise WrongPassword(
                "The home node refused this member name and password (or the account is"
                " disabled); nothing was packed. Check them and run this again."
            )
        return self._answer(response)

    def unreachable(self, error: Exception) -> HomeUnreachable:
        return HomeUnreachable(
            "The home node at %(url)s cannot be reached (%(why)s); your changes stay here and"
            " will be sent at the next sync.",
            url=self.address,
            why=type(error).__name__,
        )

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code == 401:
            raise SyncFailed(
                "The home node no longer accepts this satellite's credential (revoked?);"
                " your changes stay here: pack a new satellite and copy them over."
            )
        if response.status_code >= 400:
            try:
                why = response.json().get("error") or response.text[:200]
            except ValueError:
                why = response.text[:200]
            raise SyncFailed(
                "The home node answered %(status)s: %(why)s",
                status=response.status_code,
                why=why,
            )
        return response.json() if response.content else None

    def fetch(self, store: Any, digests: list[str]) -> int:
        """Bring these contents into the local store; returns the bytes received."""
        import httpx

        receiver = wire.Receiver(store, allowed=set(digests))
        try:
            with self.client.stream(
                "POST", "/api/travel/blobs/fetch", json={"digests": digests}
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    self._answer(response)
                for chunk in response.iter_bytes(wire.READ):
                    receiver.feed(chunk)
            receiver.close()
        except httpx.TransportError as error:
            receiver.abort()
            raise self.unreachable(error) from None
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


def http_client(address: str, timeout: float = 60) -> httpx.Client:
    import httpx

    if not address.startswith(("http://", "https://")):
        raise BadRequest("The home server's address starts with http:// or https://.")
    return httpx.Client(
        base_url=address.rstrip("/"),
        timeout=httpx.Timeout(timeout, connect=5),
        headers={"Accept-Language": "en"},  # the command line speaks English
    )


def client_for(satellite: Satellite, timeout: float = 60) -> httpx.Client:
    client = http_client(satellite.home, timeout)
    client.headers["Authorization"] = f"Bearer {satellite.token}"
    return client

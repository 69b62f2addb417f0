"""One HTTP client for every call this node makes to another server: a satellite to its home
(travel), the AI to an OpenAI-compatible server of the household or a peer, and the hamlet,
whose requests are signed (RFC 9421) by the `signer` it passes in (an `httpx.Auth`; this
module knows nothing of keys or peers).

It gives every such call the same timeouts, the same User-Agent, an optional backoff hook,
and one exception, `PeerFailed`, whose sentence says what a user can understand: the server
cannot be reached, did not answer in time, answered an error, or answered something that is
not JSON. Callers with a sentence of their own (travel's "your changes stay here") read its
`kind` and re-say it. httpx is imported on the first call, so an idle node does not load it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from hameau import __version__
from hameau.errors import HameauError
from hameau.node import json_input

if TYPE_CHECKING:
    import httpx

USER_AGENT = f"hameau/{__version__}"
UNREACHABLE, TIMEOUT, STATUS, GARBLED = "unreachable", "timeout", "status", "garbled"
CERTIFICATE = "certificate"  # the server's TLS certificate is not the one pinned for it
# Which methods may be sent again after a failure (RFC 9110's idempotent ones).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# Given the attempt that failed (1, 2 …) and why: seconds to wait before trying again, or
# None to give up. Only idempotent calls that did not get an answer (or got a 5xx) retry.
Backoff = Callable[[int, "PeerFailed"], float | None]


class PeerFailed(HameauError):
    """A call to another server failed; ``kind`` says how (one of the four above)."""

    status = 502

    def __init__(self, message: str, kind: str, code: int | None = None, **params: Any) -> None:
        super().__init__(message, **params)
        self.kind = kind
        self.code = code  # the HTTP status the server answered, if it answered
        self.why = str(params.get("why", ""))
        self.moved_to = ""  # a permanent redirect's new home (the `Hameau-Moved-To` header)

    @property
    def answered(self) -> bool:
        return self.kind in (STATUS, GARBLED)


def unreachable(url: str, error: Exception) -> PeerFailed:
    import httpx

    if isinstance(error, httpx.TimeoutException):
        return PeerFailed(
            "The server at %(url)s did not answer in time (%(why)s).",
            TIMEOUT, url=url, why=type(error).__name__,
        )  # fmt: skip
    return PeerFailed(
        "The server at %(url)s cannot be reached (%(why)s).",
        UNREACHABLE, url=url, why=type(error).__name__,
    )  # fmt: skip


def refused(url: str, response: httpx.Response) -> PeerFailed:
    """An error status, with the server's own sentence when it gave one (`{"error": …}`)."""
    try:
        found = json_input.loads(response.content)
        why = found.get("error") if isinstance(found, dict) else None
    except ValueError:
        why = None
    why = str(why or response.text[:200].strip() or response.reason_phrase)
    failure = PeerFailed(
        "The server at %(url)s answered %(status)s: %(why)s",
        STATUS, response.status_code, url=url, status=response.status_code, why=why,
    )  # fmt: skip
    failure.moved_to = response.headers.get("hameau-moved-to", "")
    return failure


def _refused(status: int) -> bool:
    """An error, or a redirect (never followed: the caller decides what a move means)."""
    return status >= 300


def decoded(url: str, response: httpx.Response) -> Any:
    """The JSON body of an answer (None for an empty one)."""
    if not response.content:
        return None
    try:
        return json_input.loads(response.content)
    except ValueError:
        raise PeerFailed(
            "The server at %(url)s answered something that is not JSON.",
            GARBLED, response.status_code, url=url,
        ) from None  # fmt: skip


def _options(token: str | None, headers: dict[str, str] | None) -> dict[str, str]:
    found = {"User-Agent": USER_AGENT, **(headers or {})}
    if token:
        found["Authorization"] = f"Bearer {token}"
    return found


def _retryable(method: str, error: PeerFailed) -> bool:
    return method.upper() in IDEMPOTENT and (not error.answered or (error.code or 0) >= 500)


def _tls(address: str) -> Any:
    """httpx's `verify` for a server at `address`: for a plain http:// one (a home on the
    household's network), a TLS context that trusts no one, as it is never used (redirects are
    not followed), instead of loading the CA bundle, 20-40 ms of every travel command's start."""
    import ssl

    return True if address.lower().startswith("https:") else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class Peer:
    """Calls to one server, blocking (travel's commands and its sync thread)."""

    def __init__(
        self,
        address: str,
        token: str | None = None,
        timeout: float = 60,
        connect: float = 5,
        headers: dict[str, str] | None = None,
        backoff: Backoff | None = None,
        client: httpx.Client | None = None,  # an existing one (a test's app client)
        signer: httpx.Auth | None = None,  # signs every request (the hamlet's)
        verify: Any = None,  # an ssl.SSLContext that says which server to trust (a pinned one)
    ) -> None:
        self.address = address.rstrip("/")
        self.backoff = backoff
        self.timeout, self.connect = timeout, connect
        self._headers = _options(token, headers)
        self._client = client
        self.signer = signer
        self.verify = verify
        if client is not None:
            client.headers.update(self._headers)
            if signer is not None:
                client.auth = signer

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            import httpx

            verify = _tls(self.address) if self.verify is None else self.verify
            self._client = httpx.Client(
                base_url=self.address, headers=self._headers, verify=verify,
                auth=self.signer,
                timeout=httpx.Timeout(self.timeout, connect=self.connect),
            )  # fmt: skip
        return self._client

    @property
    def headers(self) -> Any:
        return self.client.headers

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """The answer, whatever its status; PeerFailed if there was none."""
        import httpx

        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.client.request(method, path, **options)
                if response.status_code < 500 or self.backoff is None:
                    return response
                failure = refused(self.address, response)
            except httpx.TransportError as error:
                failure = unreachable(self.address, error)
            retry = self.backoff is not None and _retryable(method, failure)
            wait = self.backoff(attempt, failure) if retry and self.backoff else None
            if wait is None:
                if failure.answered:
                    return response
                raise failure
            time.sleep(wait)

    def call(self, method: str, path: str, **options: Any) -> Any:
        """The JSON answer; PeerFailed for no answer, an error status or a body not JSON."""
        response = self.request(method, path, **options)
        if _refused(response.status_code):
            raise refused(self.address, response)
        return decoded(self.address, response)

    @contextmanager
    def stream(self, method: str, path: str, **options: Any) -> Iterator[httpx.Response]:
        """A streamed answer with a success status; PeerFailed otherwise (also mid-body)."""
        import httpx

        try:
            with self.client.stream(method, path, **options) as response:
                if _refused(response.status_code):
                    response.read()
                    raise refused(self.address, response)
                yield response
        except httpx.TransportError as error:
            raise unreachable(self.address, error) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncPeer:
    """Calls to one server from the event loop (the AI's backend)."""

    def __init__(
        self,
        address: str,
        token: str | None = None,
        timeout: float = 60,
        connect: float = 5,
        headers: dict[str, str] | None = None,
        signer: httpx.Auth | None = None,  # signs every request (the hamlet's)
        verify: Any = None,  # an ssl.SSLContext that says which server to trust (a pinned one)
    ) -> None:
        self.address = address.rstrip("/")
        self.timeout, self.connect = timeout, connect
        self._headers = _options(token, headers)
        self.signer = signer
        self.verify = verify
        self._client: Any = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            verify = _tls(self.address) if self.verify is None else self.verify
            self._client = httpx.AsyncClient(
                base_url=self.address, headers=self._headers, verify=verify,
                auth=self.signer,
                timeout=httpx.Timeout(self.timeout, connect=self.connect),
            )  # fmt: skip
        return self._client  # type: ignore[no-any-return]

    async def call(self, method: str, path: str, **options: Any) -> Any:
        import httpx

        try:
            response = await self.client.request(method, path, **options)
        except httpx.TransportError as error:
            raise unreachable(self.address, error) from None
        if response.status_code >= 400:
            raise refused(self.address, response)
        return decoded(self.address, response)

    @asynccontextmanager
    async def stream(self, method: str, path: str, **options: Any) -> AsyncIterator[Any]:
        import httpx

        try:
            async with self.client.stream(method, path, **options) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise refused(self.address, response)
                yield response
        except httpx.TransportError as error:
            raise unreachable(self.address, error) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

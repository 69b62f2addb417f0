"""Clients toward a paired peer that record each call's outcome on the peer's row
(hamlet/health.py); after a failure, calls fail at once until the peer's next try, unless the
caller says `always` (an explicit check). The outcome is written at once (health.record),
unless the session holding the peer is inside a write: a page that awaits a peer commits its
session first anyway, so that no write lock is held while it waits. Built by
hameau/hamlet/client.py, never directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from hameau.errors import HameauError
from hameau.hamlet import health
from hameau.hamlet.errors import AnswerRefused
from hameau.node.db import utcnow
from hameau.node.peer import STATUS, AsyncPeer, Peer, PeerFailed, refused

if TYPE_CHECKING:
    import httpx

    from hameau.hamlet.models import HamletPeer
    from hameau.node.datadir import Node


# What a failed call to a peer raises (node/peer.py's failures, an answer not signed by it).
PEER_ERRORS = (PeerFailed, AnswerRefused)
# Short: a person is waiting (a page, a command); a peer that is slow is treated as down.
TIMEOUTS = {"timeout": 10.0, "connect": 3.0}


class _Watched:
    """What both clients toward a paired peer share: the gate before a call and the record
    after it."""

    node: Node
    peer: HamletPeer
    always: bool

    def _gate(self) -> None:
        if not self.always and (resting := health.resting(self.peer, utcnow())) is not None:
            raise resting

    def _record(self, error: HameauError | None) -> None:
        health.outcome(self.node, self.peer, None if error is None else _failure(error))


class WatchedPeer(_Watched, Peer):
    """A blocking client toward a paired peer that records each call's outcome on its row."""

    def __init__(self, node: Node, peer: HamletPeer, always: bool, **options: Any) -> None:
        super().__init__(peer.address, **options)
        self.node, self.peer, self.always = node, peer, always

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        self._gate()
        try:
            response = super().request(method, path, **options)
        except PEER_ERRORS as error:
            self._record(error)
            raise
        self._record(refused(self.address, response) if response.status_code >= 400 else None)
        return response

    @contextmanager
    def stream(self, method: str, path: str, **options: Any) -> Iterator[httpx.Response]:
        self._gate()
        try:
            with super().stream(method, path, **options) as response:
                self._record(None)
                yield response
        except PEER_ERRORS as error:
            self._record(error)
            raise


class WatchedAsyncPeer(_Watched, AsyncPeer):
    """A client for the event loop toward a paired peer that records each call's outcome."""

    def __init__(self, node: Node, peer: HamletPeer, always: bool, **options: Any) -> None:
        super().__init__(peer.address, **options)
        self.node, self.peer, self.always = node, peer, always

    async def call(self, method: str, path: str, **options: Any) -> Any:
        self._gate()
        try:
            answer = await super().call(method, path, **options)
        except PEER_ERRORS as error:
            self._record(error)
            raise
        self._record(None)
        return answer

    @asynccontextmanager
    async def stream(self, method: str, path: str, **options: Any) -> AsyncIterator[Any]:
        self._gate()
        try:
            async with super().stream(method, path, **options) as response:
                self._record(None)
                yield response
        except PEER_ERRORS as error:
            self._record(error)
            raise


def _failure(error: HameauError) -> HameauError | None:
    """What an error says of the peer: an answered 4xx other than a refusal of this node's
    signature (401) is the request's fault or a rule of the peer (403: an AI not open to this
    home; 429: its quota), not the peer's state: it is up."""
    code = getattr(error, "code", None)
    if isinstance(error, PeerFailed) and error.kind == STATUS and code is not None:
        return error if code >= 500 or code == 401 else None
    return error

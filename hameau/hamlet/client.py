"""The client toward one paired peer: node/peer.py's one client, signing every request with
this node's key for that peer and checking every answer against the peer's pinned key.

Every call this node makes to a peer (the CLI's ping, the pages, visits, the AI asked across
homes) builds its client here, so that what a peer call means (signature, pinned key, and
what comes with it: timeouts, the peer's state) is decided in one place."""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from typing import TYPE_CHECKING, Any

from hameau.hamlet.answers import check_answer
from hameau.hamlet.signing import AnswerCheck, Signer, public_key, sign
from hameau.node.peer import AsyncPeer, Peer

if TYPE_CHECKING:
    import httpx

    from hameau.hamlet.models import HamletPeer
    from hameau.node.datadir import Node


def _pinned_check(key: Any, node_id: str, response: httpx.Response, nonce: str) -> None:
    check_answer(response, key, node_id, nonce)


def signer_for(node: Node, audience: str, check: AnswerCheck | None) -> Signer:
    """Signs with this node's key for `audience`, checking each answer with `check`."""
    identity = node.identity
    return Signer(identity.node_id, identity.private_key, audience, check)


def pinned(peer: HamletPeer) -> AnswerCheck:
    """An answer must be signed by the peer's pinned key, for the request it answers."""
    return partial(_pinned_check, public_key(peer.public_key), peer.node_id)


def to_address(node: Node, address: str, audience: str, check: AnswerCheck, **options: Any) -> Peer:
    """A blocking client toward a node not yet pinned (pairing): `check` vouches for it."""
    return Peer(address, signer=signer_for(node, audience, check), **{"timeout": 20, **options})


def to_peer(node: Node, peer: HamletPeer, **options: Any) -> Peer:
    """A blocking client toward a paired peer (commands, worker threads)."""
    return to_address(node, peer.address, peer.node_id, pinned(peer), **options)


def to_peer_async(node: Node, peer: HamletPeer, **options: Any) -> AsyncPeer:
    """A client toward a paired peer for the event loop (pages, visits, the AI)."""
    signer = signer_for(node, peer.node_id, pinned(peer))
    return AsyncPeer(peer.address, signer=signer, **{"timeout": 20, **options})


class _RelaySigner(Signer):
    """Signs like any peer request; the answer is not read first, so it can stream back, and
    a body given with its Content-Digest (a spooled upload) streams out, signed by the digest."""

    requires_request_body = False
    requires_response_body = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Accept-Encoding"] = "identity"
        sign(self._signer, request, self.key_id, self.audience,
             digest=request.headers.get("Content-Digest"))  # fmt: skip
        yield request


def to_peer_relay(node: Node, peer: HamletPeer, **options: Any) -> AsyncPeer:
    """A client for a visitor's relayed pages (hamlet/relay.py): requests signed as any other,
    answers not checked against the peer's key (a page or a download streams back unsigned;
    the channel to the peer, pinned with TLS, vouches for them)."""
    identity = node.identity
    signer = _RelaySigner(identity.node_id, identity.private_key, peer.node_id, None)
    return AsyncPeer(peer.address, signer=signer, **{"timeout": 20, **options})

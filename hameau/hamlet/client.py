"""The client toward one paired peer: node/peer.py's one client, signing every request with
this node's key for that peer, checking every answer against the peer's pinned key, and
talking only HTTPS to the server whose certificate has the key pinned for it (a server with
another certificate is refused before anything is sent: hameau/node/tls.py).

Every call this node makes to a peer (the CLI's ping, the pages, visits, the AI asked across
homes) builds its client here, so that what a peer call means (signature, pinned key, and
what comes with it: short timeouts, the peer's state and backoff: hamlet/watched.py) is
decided in one place."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from hameau.errors import BadRequest
from hameau.hamlet.answers import check_answer
from hameau.hamlet.service import check_address
from hameau.hamlet.signing import AnswerCheck, public_key
from hameau.hamlet.watched import PEER_ERRORS, WatchedAsyncPeer, WatchedPeer  # noqa: F401
from hameau.node import tls
from hameau.node.peer import CERTIFICATE, AsyncPeer, Peer, PeerFailed

if TYPE_CHECKING:
    import ssl

    import httpx

    from hameau.hamlet.models import HamletPeer
    from hameau.hamlet.signer import Signer
    from hameau.node.datadir import Node


def _pinned_check(key: Any, node_id: str, response: httpx.Response, nonce: str) -> None:
    check_answer(response, key, node_id, nonce)


def signer_for(node: Node, audience: str, check: AnswerCheck | None) -> Signer:
    """Signs with this node's key for `audience`, checking each answer with `check`."""
    from hameau.hamlet.signer import Signer  # httpx: loaded with the first client

    identity = node.identity
    return Signer(identity.node_id, identity.private_key, audience, check)


def pinned(peer: HamletPeer) -> AnswerCheck:
    """An answer must be signed by the peer's pinned key, for the request it answers."""
    return partial(_pinned_check, public_key(peer.public_key), peer.node_id)


def own_fingerprint(node: Node) -> str:
    """The fingerprint of the certificate this node serves HTTPS with (made if missing)."""
    try:
        return tls.for_serving(node.settings, node.name).fingerprint
    except (tls.TlsError, ValueError) as error:
        raise BadRequest(
            "The certificate to serve HTTPS with cannot be used (%(why)s).", why=str(error)
        ) from None


def _certificate(address: str, fingerprint: str | None, who: str | None) -> ssl.SSLContext:
    """TLS toward `address`, trusting only the certificate with this fingerprint; `who`: the
    name the peer was paired as (None while pairing)."""
    check_address(address)  # https only
    if not fingerprint:
        raise BadRequest(
            "No certificate is pinned for %(peer)s (paired before home servers used HTTPS);"
            " pair with it again.",
            peer=who or address,
        )

    def refusal() -> PeerFailed:
        if who is None:
            return PeerFailed(
                "The server at %(url)s is not the one that made this invitation (its"
                " certificate differs); nothing was paired here.",
                CERTIFICATE, url=address,
            )  # fmt: skip
        return PeerFailed(
            "The server at %(url)s is not the home paired as %(peer)s (its certificate differs).",
            CERTIFICATE, url=address, peer=who,
        )  # fmt: skip

    return tls.pinned_context(fingerprint, refusal)


# Short: a person is waiting (a page, a command); a peer that is slow is treated as down.
TIMEOUTS = {"timeout": 10.0, "connect": 3.0}


def timeouts(node: Node) -> dict[str, float]:
    """Toward a paired peer: TIMEOUTS, the wait for an answer as the node's
    `hamlet_peer_timeout_seconds` says (pairing, once, keeps TIMEOUTS)."""
    waited = float(node.settings.hamlet_peer_timeout_seconds)
    return {"timeout": waited, "connect": min(TIMEOUTS["connect"], waited)}


def to_address(
    node: Node,
    address: str,
    audience: str,
    check: AnswerCheck,
    *,
    certificate: str,
    name: str | None = None,
    **options: Any,
) -> Peer:
    """A blocking client toward a node not yet pinned (pairing): `check` vouches for its
    answers, `certificate` (the invitation's fingerprint) for its server."""
    verify = _certificate(address, certificate, name)
    signer = signer_for(node, audience, check)
    return Peer(address, signer=signer, verify=verify, **{**TIMEOUTS, **options})


def to_address_async(
    node: Node,
    address: str,
    audience: str,
    check: AnswerCheck,
    *,
    certificate: str,
    name: str | None = None,
    **options: Any,
) -> AsyncPeer:
    """The same for the event loop (the hamlet page's "Join a home")."""
    verify = _certificate(address, certificate, name)
    signer = signer_for(node, audience, check)
    return AsyncPeer(address, signer=signer, verify=verify, **{**TIMEOUTS, **options})


def to_peer(node: Node, peer: HamletPeer, always: bool = False, **options: Any) -> Peer:
    """A blocking client toward a paired peer (commands, worker threads) that records each
    call's outcome on its row; `always` tries even before the peer's next try (a check)."""
    verify = _certificate(peer.address, peer.tls_fingerprint, peer.name)
    signer = signer_for(node, peer.node_id, pinned(peer))
    return WatchedPeer(
        node, peer, always, signer=signer, verify=verify, **{**timeouts(node), **options}
    )


def to_peer_async(node: Node, peer: HamletPeer, always: bool = False, **options: Any) -> AsyncPeer:
    """A client toward a paired peer for the event loop (pages, visits, the AI), recording
    each call's outcome like `to_peer`."""
    verify = _certificate(peer.address, peer.tls_fingerprint, peer.name)
    signer = signer_for(node, peer.node_id, pinned(peer))
    return WatchedAsyncPeer(
        node, peer, always, signer=signer, verify=verify, **{**timeouts(node), **options}
    )


def to_peer_relay(node: Node, peer: HamletPeer, **options: Any) -> AsyncPeer:
    """A client for a visitor's relayed pages (hamlet/relay.py): requests signed as any other,
    answers not checked against the peer's key (a page or a download streams back unsigned;
    the channel to the peer, pinned with TLS, vouches for them)."""
    from hameau.hamlet.signer import RelaySigner

    identity = node.identity
    verify = _certificate(peer.address, peer.tls_fingerprint, peer.name)
    signer = RelaySigner(identity.node_id, identity.private_key, peer.node_id, None)
    return AsyncPeer(peer.address, signer=signer, verify=verify, **{"timeout": 20, **options})

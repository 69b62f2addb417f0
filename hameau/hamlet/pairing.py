"""Joining a home with its invitation: the one way it is done, from the command line
(`hameau hamlet join`, blocking) and from the hamlet page (on the event loop).

The joiner sends the invitation's secret, its name, address and key, signed with its key;
the inviter's answer must come from the key the invitation's fingerprint names, over TLS to
the certificate it names. Then each side pins the other's key and certificate."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
from hameau.node.peer import STATUS, PeerFailed

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.orm import Session

    from hameau.hamlet.models import HamletPeer
    from hameau.node.datadir import Node

PAIR = "/api/hamlet/pair"


def inviter_check(given: service.Invitation) -> AnswerCheck:
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


def _prepared(node: Node, invitation: str, address: str) -> tuple[service.Invitation, dict]:
    """The invitation, checked here first, and the pairing request's body."""
    given = service.parse(invitation)
    if given.fingerprint == fingerprint_of(node.identity.public_bytes):
        raise BadRequest(
            "This invitation was made by this home server itself; give it to the other home's"
            " admin, who joins with it there."
        )
    if given.expires < datetime.now(UTC):
        raise InvitationRefused(
            "This invitation expired on %(when)s UTC; ask the other home's admin for a new one.",
            when=given.expires.strftime("%Y-%m-%d %H:%M"),
        )
    body = {
        "secret": given.secret, "name": node.name, "address": service.check_address(address),
        "public_key": node.identity.public_key_b64, "tls": client.own_fingerprint(node),
    }  # fmt: skip
    return given, body


def _refusal(failed: PeerFailed) -> Exception:
    """The inviter's 401 said in words; any other failure as it is."""
    if failed.kind == STATUS and failed.code == 401:
        return InvitationRefused(
            "The other home server refused this invitation (unknown, already used or"
            " expired); ask its admin for a new one."
        )
    return failed


def _pinned(db: Session, given: service.Invitation, answer: Any) -> HamletPeer:
    name = str(answer["name"])
    return service.pin(db, str(answer["public_key"]), name, given.address, given.tls)


def join(node: Node, db: Session, invitation: str, address: str) -> HamletPeer:
    """Pairs with the node that made `invitation`, this node being reached at `address`."""
    given, body = _prepared(node, invitation, address)
    audience = node_id_from_fingerprint(given.fingerprint)
    check = inviter_check(given)
    with client.to_address(node, given.address, audience, check, certificate=given.tls) as peer:
        try:
            answer = peer.call("POST", PAIR, json=body)
        except PeerFailed as failed:
            raise _refusal(failed) from None
    return _pinned(db, given, answer)


async def join_async(node: Node, db: Session, invitation: str, address: str) -> HamletPeer:
    """The same on the event loop (the page): the caller commits its session first, so that
    no write lock is held while the inviter answers."""
    given, body = _prepared(node, invitation, address)
    audience = node_id_from_fingerprint(given.fingerprint)
    check = inviter_check(given)
    peer = client.to_address_async(node, given.address, audience, check, certificate=given.tls)
    try:
        answer = await peer.call("POST", PAIR, json=body)
    except PeerFailed as failed:
        raise _refusal(failed) from None
    finally:
        await peer.aclose()
    return _pinned(db, given, answer)

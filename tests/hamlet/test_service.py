"""The hamlet's rules without a network: invitations (one line, one use, hashed, expiring),
keys pinned and left, and the nonce store that forgets what can no longer be replayed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

pytest.importorskip(
    "http_message_signatures", reason="not run: http-message-signatures is not installed"
)
from hameau.errors import BadRequest
from hameau.hamlet import service, signing
from hameau.hamlet.errors import InvitationRefused, SignatureRefused
from hameau.hamlet.models import HamletInvitation, HamletNonce
from hameau.node.datadir import Node
from hameau.node.db import transaction

TLS = "x" * 43  # a certificate's fingerprint, as hameau/node/tls.py makes them


def test_an_invitation_is_one_url_safe_line_that_reads_back(node: Node) -> None:
    with transaction(node.sessions) as db:
        made = service.invite(db, node.identity.public_bytes, "https://10.0.0.2:8080/", 24, TLS)
        kept = db.scalars(select(HamletInvitation)).one()
    text = made.text()
    assert text.startswith("hameau-invite-") and all(c.isalnum() or c in "-_" for c in text)
    assert service.parse(f"  {text}\n") == made
    assert made.address == "https://10.0.0.2:8080" and made.tls == TLS
    assert made.secret not in kept.secret_hash and len(kept.secret_hash) == 64
    assert signing.node_id_from_fingerprint(made.fingerprint) == node.identity.node_id


NESTED = "hameau-invite-" + base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode()


@pytest.mark.parametrize("text", ["", "hello", "hameau-invite-", "hameau-invite-e30", NESTED])
def test_what_is_not_an_invitation_is_refused(text: str) -> None:
    with pytest.raises(BadRequest, match="not a hamlet invitation"):
        service.parse(text)


def test_peers_are_reached_over_https_only(node: Node) -> None:
    for address in ("http://10.0.0.2:8080", "HTTP://maison.lan"):
        with pytest.raises(BadRequest, match="run the home server with `hameau serve --tls`"):
            service.check_address(address)
    for address in ("file:///etc", "https://", "10.0.0.2:8080"):
        with pytest.raises(BadRequest, match="An address is an https:// URL with a host"):
            service.check_address(address)
    with transaction(node.sessions) as db:
        plain = service.invite(db, node.identity.public_bytes, "https://a", 1, TLS)
    # Made without a certificate's fingerprint (or by a node before TLS): refused as it is read.
    older = service.Invitation(plain.address, plain.fingerprint, plain.secret, plain.expires)
    with pytest.raises(BadRequest, match="does not say which certificate"):
        service.parse(older.text())


def test_an_invitation_is_redeemed_once_and_not_after_it_expires(node: Node) -> None:
    with transaction(node.sessions) as db:
        once = service.invite(db, node.identity.public_bytes, "https://a", 1, TLS)
        late = service.invite(db, node.identity.public_bytes, "https://a", 1, TLS)
        db.flush()
        row = db.scalars(select(HamletInvitation).order_by(HamletInvitation.id).offset(1)).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with transaction(node.sessions) as db:
        service.redeem(db, once.secret, "joiner")
    for secret in (once.secret, late.secret, "wrong"):
        with transaction(node.sessions) as db, pytest.raises(InvitationRefused):
            service.redeem(db, secret, "joiner")


def test_a_peer_left_has_no_trusted_key_until_paired_again(node: Node) -> None:
    key = node.identity.public_key_b64
    with transaction(node.sessions) as db:
        peer = service.pin(db, key, "B", "https://b", TLS)
        assert peer.tls_fingerprint == TLS
        assert service.trusted_key(db, peer.node_id) is not None
        service.leave(db, service.find(db, "B"))
        assert service.trusted_key(db, peer.node_id) is None
        service.pin(db, key, "B", "https://b", TLS)
        assert service.trusted_key(db, peer.node_id) is not None
        assert len(service.peers(db)) == 1


def test_nonces_are_refused_twice_and_forgotten_once_expired(node: Node) -> None:
    now = datetime.now(UTC)
    with transaction(node.sessions) as db:
        signing.remember_nonce(db, "k", "old", now - timedelta(minutes=10), 60)
        signing.remember_nonce(db, "k", "n1", now + timedelta(minutes=5), 60)
        with pytest.raises(SignatureRefused):
            signing.remember_nonce(db, "k", "n1", now + timedelta(minutes=5), 60)
        signing.remember_nonce(db, "other", "n1", now + timedelta(minutes=5), 60)
        kept = set(db.scalars(select(HamletNonce.nonce)))
        count = db.scalar(select(func.count()).select_from(HamletNonce))
    assert kept == {"n1"} and count == 2  # "old" expired long ago: deleted as others came

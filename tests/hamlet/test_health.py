"""A peer's health and backoff, with the real client (hamlet/client.py) against real sockets:
a "blackhole" that accepts connections and never answers (counting them), and a server that
refuses with 401. After a failure, calls fail at once without touching the network until the
peer's next try; an explicit check always tries."""

from __future__ import annotations

import asyncio
import base64
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select, update

pytest.importorskip(
    "http_message_signatures", reason="not run: http-message-signatures is not installed"
)
from hameau.errors import BadRequest
from hameau.hamlet import client, health, pairing, service
from hameau.hamlet.errors import PeerResting
from hameau.hamlet.models import HamletPeer
from hameau.node import tls
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from hameau.node.peer import STATUS, TIMEOUT, PeerFailed
from tests.blackhole import blackhole

PING = "/api/hamlet/ping"
# A pinned certificate fingerprint for servers that never get as far as showing theirs.
UNUSED = "x" * 43


@contextmanager
def refusing(node: Node) -> Iterator[tuple[str, str]]:
    """A server that answers every request 401, as a home that left this one does, over
    HTTPS with the node's own certificate (so the client's pin holds); its address and the
    certificate's fingerprint."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"error": "This request is not signed by a paired home server."}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    files = tls.for_serving(node.settings, node.name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", files.fingerprint
    finally:
        server.shutdown()
        server.server_close()


def paired(node: Node, address: str, certificate: str = UNUSED) -> int:
    """A peer pinned with a key of its own, at `address`; its row's id."""
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with transaction(node.sessions) as db:
        return service.pin(db, base64.b64encode(key).decode(), "B", address, certificate).id


def row(node: Node, peer_id: int) -> HamletPeer:
    with node.sessions() as db:
        return db.scalars(select(HamletPeer).where(HamletPeer.id == peer_id)).one()


def test_the_wait_doubles_from_30_seconds_to_an_hour() -> None:
    waits = [health.wait_after(failures).total_seconds() for failures in range(0, 10)]
    assert waits == [0, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert health.wait_after(500) == timedelta(hours=1)


def test_a_silent_peer_is_not_called_again_before_its_next_try(node: Node) -> None:
    with blackhole() as hole:
        peer_id = paired(node, hole.url)
        with node.sessions() as db:
            peer = db.get(HamletPeer, peer_id)
            assert peer is not None
            with client.to_peer(node, peer, timeout=1) as calling:
                with pytest.raises(PeerFailed) as first:
                    calling.call("GET", PING)
                assert first.value.kind == TIMEOUT and hole.attempts(at_least=1) == 1
                with pytest.raises(PeerResting) as second:
                    calling.call("GET", PING)
            db.commit()
        assert hole.attempts() == 1  # the second call did not touch the network
        assert "will be tried again at" in str(second.value)
        found = row(node, peer_id)
        assert found.state == "unreachable" and found.failures == 1
        assert found.next_try_at is not None and found.last_tried_at is not None
        assert found.next_try_at - found.last_tried_at == timedelta(seconds=30)
        assert "did not answer in time" in (health.last_error(found, str) or "")
        # An explicit check ("Check now", `hamlet ping`) tries anyway; the wait doubles.
        with node.sessions() as db:
            peer = db.get(HamletPeer, peer_id)
            assert peer is not None
            calling = client.to_peer(node, peer, always=True, timeout=1)
            with calling, pytest.raises(PeerFailed):
                calling.call("GET", PING)
            db.commit()
        assert hole.attempts(at_least=2) == 2
        found = row(node, peer_id)
        assert found.failures == 2 and found.next_try_at is not None
        assert found.next_try_at - found.last_tried_at == timedelta(minutes=1)  # type: ignore[operator]


def test_the_async_client_records_on_a_peer_no_session_holds(node: Node) -> None:
    with blackhole() as hole:
        peer_id = paired(node, hole.url)
        peer = row(node, peer_id)  # detached: the record is written in its own transaction

        async def twice() -> tuple[BaseException, BaseException]:
            calling = client.to_peer_async(node, peer, timeout=1)
            try:
                errors = []
                for _ in range(2):
                    try:
                        await calling.call("GET", PING)
                    except PeerFailed as failed:
                        errors.append(failed)
                return errors[0], errors[1]
            finally:
                await calling.aclose()

        # In a thread of its own: a session's Playwright may hold this thread's event loop.
        with ThreadPoolExecutor(1) as pool:
            first, second = pool.submit(asyncio.run, twice()).result()
        assert not isinstance(first, PeerResting) and isinstance(second, PeerResting)
        assert hole.attempts(at_least=1) == 1
    found = row(node, peer_id)
    assert found.state == "unreachable" and found.failures == 1


def test_a_peer_that_answers_401_is_shown_as_refusing_this_home(node: Node) -> None:
    with refusing(node) as (address, certificate):
        peer_id = paired(node, address, certificate)
        with node.sessions() as db:
            peer = db.get(HamletPeer, peer_id)
            assert peer is not None
            calling = client.to_peer(node, peer, always=True)
            with calling, pytest.raises(PeerFailed) as failed:
                calling.call("GET", PING)
            db.commit()
    assert failed.value.kind == STATUS and failed.value.code == 401
    found = row(node, peer_id)
    assert found.state == "refused" and found.failures == 1
    assert "not signed by a paired home server" in (health.last_error(found, str) or "")


def test_a_peer_whose_next_try_has_come_is_called_again(node: Node) -> None:
    with blackhole() as hole:
        peer_id = paired(node, hole.url)
        with transaction(node.sessions) as db:
            peer = db.get(HamletPeer, peer_id)
            assert peer is not None
            peer.state, peer.failures = "unreachable", 3
            peer.next_try_at = utcnow() - timedelta(seconds=1)
        peer = row(node, peer_id)
        with client.to_peer(node, peer, timeout=1) as calling, pytest.raises(PeerFailed) as failed:
            calling.call("GET", PING)
        assert not isinstance(failed.value, PeerResting) and hole.attempts(at_least=1) == 1
    found = row(node, peer_id)
    assert found.failures == 4 and found.next_try_at - found.last_tried_at == timedelta(minutes=4)  # type: ignore[operator]


def test_a_failure_is_kept_when_the_callers_transaction_rolls_back(node: Node) -> None:
    with blackhole() as hole:
        peer_id = paired(node, hole.url)
        with node.sessions() as db:
            peer = db.get(HamletPeer, peer_id)
            assert peer is not None
            calling = client.to_peer(node, peer, timeout=1)
            with calling, pytest.raises(PeerFailed):
                calling.call("GET", PING)
            db.rollback()  # e.g. a route whose error ends its request
    found = row(node, peer_id)
    assert found.state == "unreachable" and found.failures == 1


def test_a_caller_inside_a_write_gets_the_outcome_in_its_own_commit(node: Node) -> None:
    """Its session holds SQLite's write lock: writing beside it would wait for a lock that
    is not released before the call returns (and fail as "database is locked")."""
    with blackhole() as hole:
        peer_id = paired(node, hole.url)
        with node.sessions() as db:
            peer = db.get(HamletPeer, peer_id)
            assert peer is not None
            peer.name = "B, renamed"
            db.flush()  # a write in progress
            calling = client.to_peer(node, peer, timeout=1)
            with calling, pytest.raises(PeerFailed):
                calling.call("GET", PING)
            db.commit()
    found = row(node, peer_id)
    assert found.name == "B, renamed" and found.state == "unreachable" and found.failures == 1


def test_a_home_cannot_join_its_own_invitation(node: Node) -> None:
    with transaction(node.sessions) as db:
        own = client.own_fingerprint(node)
        made = service.invite(db, node.identity.public_bytes, "https://10.0.0.2:8080", 1, own)
    with node.sessions() as db, pytest.raises(BadRequest, match="made by this home server"):
        pairing.join(node, db, made.text(), "https://10.0.0.3:8080")


def test_a_peer_up_is_written_seen_at_most_once_a_minute(node: Node) -> None:
    """Every answered call would otherwise be a durable commit at the caller."""
    peer_id = paired(node, "https://10.0.0.2:8443")
    with node.sessions() as db:
        peer = db.get(HamletPeer, peer_id)
        assert peer is not None
        health.outcome(node, peer, None)  # the first answer: written
    first = row(node, peer_id)
    assert first.state == "up" and first.last_seen_at is not None
    health.outcome(node, first, None)  # answered again within the minute: nothing written
    assert row(node, peer_id).last_seen_at == first.last_seen_at
    with transaction(node.sessions) as db:
        earlier = utcnow() - timedelta(minutes=2)
        db.execute(update(HamletPeer).where(HamletPeer.id == peer_id).values(last_seen_at=earlier))
    health.outcome(node, row(node, peer_id), None)
    assert row(node, peer_id).last_seen_at > earlier  # type: ignore[operator]

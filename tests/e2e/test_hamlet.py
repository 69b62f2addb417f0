"""The hamlet across three real nodes (three `hameau serve --tls` processes on loopback):
pairing A–B and A–C with the command line, signed calls, leaving a peer; and every hostile
signature and invitation case, each crafted with the `http-message-signatures` library and
httpx against the served node A (over HTTPS, trusting A's certificate)."""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from hameau.node.datadir import Layout
from tests.e2e.hamlet_nodes import Home, hamlet, invite, join

pytest.importorskip(
    "http_message_signatures", reason="not run: http-message-signatures is not installed"
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)

COVERED = ("@method", "@authority", "@path", "@query", "hameau-audience")
PING = "/api/hamlet/ping"
REFUSED = "not signed by a paired home"


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Home]]:
    skew = {"B": {"HAMEAU_HAMLET_CLOCK_SKEW_SECONDS": "900"}}
    with hamlet(tmp_path_factory.mktemp("hamlet"), env=skew) as found:
        TRUSTED.update({home.url: home.verify for home in found.values()})
        yield found


def craft(
    to: Home,
    key: Ed25519PrivateKey,
    key_id: str,
    *,
    audience: str | None = None,
    method: str = "GET",
    body: bytes = b"",
    created: datetime | None = None,
    nonce: str | None = "fresh",
    covered: tuple[str, ...] = COVERED,
    digest: bool = True,
) -> httpx.Request:
    """A request to `to`'s ping, signed by the library as a peer would (or almost)."""
    request = httpx.Request(
        method, to.url + PING, content=body, headers={"Hameau-Audience": audience or to.node_id}
    )
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: key}),
    )
    created = created or datetime.now(UTC)
    signer.sign(
        request, key_id=key_id, created=created, expires=created + timedelta(seconds=300),
        nonce=secrets.token_urlsafe(16) if nonce == "fresh" else nonce, tag="hameau",
        covered_component_ids=covered, body=body if digest else None,
    )  # fmt: skip
    return request


# Each served node's address → httpx's `verify` trusting its certificate (from the fixture).
TRUSTED: dict[str, object] = {}


def send(request: httpx.Request) -> httpx.Response:
    """Send a crafted request, trusting the certificate of the node it goes to."""
    request.headers["Accept-Language"] = "en"  # the refusal's sentence, in English
    to = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
    with httpx.Client(timeout=20, verify=TRUSTED[to]) as client:  # type: ignore[arg-type]
        return client.send(request)


def refused(response: httpx.Response) -> bool:
    return response.status_code == 401 and REFUSED in response.json()["error"]


def as_b(homes: dict[str, Home], **options: object) -> httpx.Request:
    b = homes["B"]
    return craft(homes["A"], b.key(), b.node_id, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the three homes


def test_paired_homes_call_each_other_signed(homes: dict[str, Home]) -> None:
    a, b, c = homes["A"], homes["B"], homes["C"]
    for caller, callee in ((b, "A"), (a, "B"), (c, "A"), (a, "C")):
        done = caller.run("hamlet", "ping", callee)
        assert done.returncode == 0, done.stderr
        assert f"{callee} answered: it knows this node as {caller.name}" in done.stdout
    # B and C both know A, not each other: pairing is not transitive.
    done = b.run("hamlet", "ping", "C")
    assert done.returncode != 0 and "No paired home server is called C" in done.stderr
    listing = a.run("hamlet", "list").stdout
    assert "B" in listing and "C" in listing and "up" in listing


def test_a_request_signed_by_a_paired_home_is_accepted(homes: dict[str, Home]) -> None:
    answer = send(as_b(homes, method="POST", body=b"hello"))
    assert answer.status_code == 200
    assert answer.json() == {
        "node_id": homes["A"].node_id, "name": "A", "peer": "B", "received": 5,
    }  # fmt: skip


def test_answers_are_signed_for_the_request_they_answer(homes: dict[str, Home]) -> None:
    a = homes["A"]
    request = as_b(homes)
    answer = send(request)
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(
            public_keys={a.node_id: a.key().public_key()}, private_keys={}
        ),
    )
    result = verifier.verify(answer, expect_tag="hameau", body=answer.content)[0]
    assert result.parameters["nonce"] in request.headers["Signature-Input"]
    assert {'"@status"', '"@path";req', '"content-digest"'} <= set(result.covered_components)


@contextmanager
def impostor(certificate: Home) -> Iterator[str]:
    """A server that answers 200 with what A would say, unsigned, over HTTPS with the
    certificate and key of `certificate` (someone who took its TLS key, not its node key)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"node_id": "x", "name": "A", "peer": "B", "received": 0}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificate.data_dir / "tls.crt", certificate.data_dir / "tls.key")
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_unsigned_answer_at_a_peers_address_is_refused(homes: dict[str, Home]) -> None:
    b = homes["B"]
    database = Layout(b.data_dir).database
    with impostor(homes["A"]) as address, sqlite3.connect(database) as db:
        db.execute("UPDATE hamlet_peers SET address = ? WHERE name = 'A'", (address,))
        db.commit()
        done = b.run("hamlet", "ping", "A")
        db.execute("UPDATE hamlet_peers SET address = ? WHERE name = 'A'", (homes["A"].url,))
    assert done.returncode != 0
    assert "is not signed by the home server paired with this one" in done.stderr


# ---------------------------------------------------------------- hostile signatures


def test_a_forged_signature_is_refused(homes: dict[str, Home]) -> None:
    request = as_b(homes)
    label, _, value = request.headers["Signature"].partition("=:")
    raw = bytearray(base64.b64decode(value.rstrip(":")))
    raw[0] ^= 1
    request.headers["Signature"] = f"{label}=:{base64.b64encode(bytes(raw)).decode()}:"
    assert refused(send(request))


def test_a_replayed_request_is_refused(homes: dict[str, Home]) -> None:
    request = as_b(homes)
    assert send(request).status_code == 200
    assert refused(send(request))


def test_a_request_replayed_at_the_same_time_is_accepted_once(homes: dict[str, Home]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    request = as_b(homes)
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(answer.status_code for answer in pool.map(send, [request] * 4))
    assert statuses == [200, 401, 401, 401]


def test_the_async_client_signs_too(homes: dict[str, Home]) -> None:
    """node/peer.py's AsyncPeer (the AI's client) with the hamlet's signer, and TLS pinned to
    A's certificate as hamlet/client.py pins it."""
    import asyncio
    import concurrent.futures

    from hameau.hamlet.signer import Signer
    from hameau.node import tls
    from hameau.node.peer import AsyncPeer

    a, b = homes["A"], homes["B"]
    pinned = tls.pinned_context(tls.own(a.data_dir).fingerprint, lambda: AssertionError("pin"))

    async def ping() -> object:
        signer = Signer(b.node_id, b.key(), a.node_id)
        peer = AsyncPeer(a.url, signer=signer, verify=pinned)
        try:
            return await peer.call("POST", PING, content=b"12345")
        finally:
            await peer.aclose()

    # In a thread of its own: the browser tests keep an event loop in the main thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answered = pool.submit(asyncio.run, ping()).result()
    assert answered == {
        "node_id": homes["A"].node_id, "name": "A", "peer": "B", "received": 5,
    }  # fmt: skip


def test_an_expired_signature_is_refused(homes: dict[str, Home]) -> None:
    assert refused(send(as_b(homes, created=datetime.now(UTC) - timedelta(hours=1))))


def test_a_signature_from_the_future_is_refused(homes: dict[str, Home]) -> None:
    assert refused(send(as_b(homes, created=datetime.now(UTC) + timedelta(hours=1))))


def test_the_clock_skew_tolerated_is_a_setting(homes: dict[str, Home]) -> None:
    """B tolerates 15 minutes (HAMEAU_HAMLET_CLOCK_SKEW_SECONDS=900), A the default minute."""
    a, b = homes["A"], homes["B"]
    ahead = datetime.now(UTC) + timedelta(minutes=10)
    assert send(craft(b, a.key(), a.node_id, created=ahead)).status_code == 200
    assert refused(send(craft(a, b.key(), b.node_id, created=ahead)))


def test_a_signature_by_another_key_under_a_peers_keyid_is_refused(
    homes: dict[str, Home],
) -> None:
    request = craft(homes["A"], homes["C"].key(), homes["B"].node_id)
    assert refused(send(request))
    request = craft(homes["A"], Ed25519PrivateKey.generate(), homes["B"].node_id)
    assert refused(send(request))


def test_a_tampered_body_is_refused(homes: dict[str, Home]) -> None:
    signed = as_b(homes, method="POST", body=b"pay 10")
    kept = {name: signed.headers[name] for name in ("Signature", "Signature-Input")}
    kept |= {
        "Content-Digest": signed.headers["Content-Digest"],
        "Hameau-Audience": homes["A"].node_id,
    }
    tampered = httpx.Request("POST", signed.url, content=b"pay 99", headers=kept)
    assert refused(send(tampered))
    # Its digest made to match the new body: the signature no longer does.
    digest = base64.b64encode(__import__("hashlib").sha256(b"pay 99").digest()).decode()
    kept["Content-Digest"] = f"sha-256=:{digest}:"
    tampered = httpx.Request("POST", signed.url, content=b"pay 99", headers=kept)
    assert refused(send(tampered))


def test_a_node_never_paired_is_refused(homes: dict[str, Home]) -> None:
    from hameau.hamlet.signing import node_id_of

    stranger = Ed25519PrivateKey.generate()
    key_id = node_id_of(stranger.public_key().public_bytes_raw())
    assert refused(send(craft(homes["A"], stranger, key_id)))


def test_requests_without_a_signature_are_refused(homes: dict[str, Home]) -> None:
    assert refused(send(httpx.Request("GET", homes["A"].url + PING)))
    a = homes["A"]
    french = httpx.get(a.url + PING, headers={"Accept-Language": "fr"}, verify=a.verify)
    assert french.status_code == 401 and "pas signée" in french.json()["error"]
    request = as_b(homes)
    del request.headers["Signature"]
    assert refused(send(request))
    garbled = {"Signature-Input": 'hameau=("@method";keyid=', "Signature": "hameau=:!!:"}
    assert refused(send(httpx.Request("GET", homes["A"].url + PING, headers=garbled)))
    request = as_b(homes, method="POST", body=b"x")
    request.headers["Content-Digest"] = "sha-256=:not base64!:"
    assert refused(send(request))


def test_a_signature_missing_a_component_or_parameter_is_refused(homes: dict[str, Home]) -> None:
    assert refused(send(as_b(homes, method="POST", body=b"x", digest=False)))  # no digest
    assert refused(send(as_b(homes, nonce=None)))
    assert refused(send(as_b(homes, covered=("@method", "@authority", "@path"))))


def test_a_request_signed_for_another_home_is_refused(homes: dict[str, Home]) -> None:
    assert refused(send(as_b(homes, audience=homes["C"].node_id)))


# ---------------------------------------------------------------- hostile invitations


def test_an_invitation_works_once(homes: dict[str, Home]) -> None:
    invitation = invite(homes["A"])
    assert join(homes["B"], invitation).returncode == 0
    again = join(homes["C"], invitation)
    assert again.returncode != 0
    assert "refused this invitation" in again.stderr and len(again.stderr.splitlines()) == 1


def test_an_expired_invitation_is_refused(homes: dict[str, Home]) -> None:
    invitation = invite(homes["A"])
    with sqlite3.connect(Layout(homes["A"].data_dir).database) as db:
        db.execute("UPDATE hamlet_invitations SET expires_at = '2000-01-01 00:00:00'"
                   " WHERE used_at IS NULL")  # fmt: skip
    done = join(homes["C"], invitation)
    assert done.returncode != 0 and "refused this invitation" in done.stderr


def test_an_invitation_with_a_wrong_secret_is_refused(homes: dict[str, Home]) -> None:
    invitation = invite(homes["A"])
    body = invitation.removeprefix("hameau-invite-")
    found = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    right, found["s"] = found["s"], secrets.token_urlsafe(24)
    raw = json.dumps(found, separators=(",", ":")).encode()
    wrong = "hameau-invite-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    done = join(homes["C"], wrong)
    assert done.returncode != 0 and "refused this invitation" in done.stderr
    # The right one still works, and no secret reached the inviter's log.
    assert join(homes["C"], invitation).returncode == 0
    log = homes["A"].served.output()
    assert "refused a pairing" in log and right not in log and found["s"] not in log


def test_a_mangled_invitation_is_refused_here(homes: dict[str, Home]) -> None:
    done = join(homes["C"], "hameau-invite-nonsense")
    assert done.returncode != 0 and "not a hamlet invitation" in done.stderr


def test_addresses_are_https_urls(homes: dict[str, Home]) -> None:
    done = homes["A"].run("hamlet", "invite", "--address", "file:///etc")
    assert done.returncode != 0 and "An address is an https:// URL" in done.stderr
    done = join(homes["C"], invite(homes["A"]).replace("hameau-invite-", "hameau-invite-x"))
    assert done.returncode != 0 and len(done.stderr.splitlines()) == 1


# ---------------------------------------------------------------- leaving


def test_after_leaving_a_peer_its_next_request_is_refused(homes: dict[str, Home]) -> None:
    a, c = homes["A"], homes["C"]
    assert c.run("hamlet", "ping", "A").returncode == 0
    left = a.run("hamlet", "leave", "C")
    assert left.returncode == 0, left.stderr
    done = c.run("hamlet", "ping", "A")
    assert done.returncode != 0 and "401" in done.stderr
    assert refused(send(craft(a, c.key(), c.node_id)))  # the revoked key, signed right
    assert homes["B"].run("hamlet", "ping", "A").returncode == 0  # B is still trusted
    assert "left" in a.run("hamlet", "list").stdout
    log = a.served.output()
    assert f"keyid {c.node_id} is revoked" in log and "a replay" in log
    assert "Traceback" not in log  # every hostile request above was refused, none crashed

"""The terminal's side of a visit, in one node: the picker's way to a visit, the sign-in that
leaves for the visitor's home with PKCE, answers from a home that do not match refused, the
home's id token checked against its pinned key, and a visit's cookie that no longer names a
visit never reaching this node's own pages."""

from __future__ import annotations

import base64
import time
import warnings

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text
from starlette.testclient import TestClient

from hameau.accounts import devices
from hameau.hamlet import service
from hameau.hamlet.errors import SignInRefused
from hameau.hamlet.signing import node_id_of
from hameau.hamlet.visitors import (
    START_COOKIE,
    VISIT_COOKIE,
    Visit,
    Visitors,
    challenge_of,
    check_id_token,
)
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, csrf, enrol

HOME = "https://home.invalid:8080"  # RFC 2606: never resolves


def _public_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@pytest.fixture
def terminal(node: Node) -> TestClient:
    """A browser enrolled as this node's shared terminal; the node paired with one home."""
    add_member(node, "camille", admin=True)
    with transaction(node.sessions) as db:
        devices.add_device(db, "Kitchen terminal", "terminal", True)
        key = _public_b64(Ed25519PrivateKey.generate())
        service.pin(db, key, "Maison Rose", HOME, "x" * 43)  # never reached: any pin
    client = browser(node)
    enrol(client, node, "Kitchen terminal")
    return client


def test_the_picker_leads_to_the_homes_this_one_is_paired_with(terminal: TestClient) -> None:
    picker = terminal.get("/login", headers={"accept-language": "en"})
    assert 'href="/visit"' in picker.text and "visiting from another home" in picker.text
    page = terminal.get("/visit", headers={"accept-language": "en"})
    assert page.status_code == 200 and "Maison Rose" in page.text


def test_without_a_peer_the_page_says_why_no_visitor_can_sign_in(node: Node) -> None:
    with transaction(node.sessions) as db:
        devices.add_device(db, "Hall", "terminal", True)
    add_member(node, "camille", admin=True)
    client = browser(node)
    enrol(client, node, "Hall")
    page = client.get("/visit", headers={"accept-language": "en"})
    assert page.status_code == 200 and "not paired with any other home yet" in page.text


def test_a_visit_starts_only_on_a_shared_device(node: Node) -> None:
    add_member(node, "camille", admin=True)
    answer = browser(node).get("/visit", headers={"accept-language": "en"})
    assert answer.status_code == 400 and "shared device" in answer.text


def test_a_home_this_node_cannot_reach_is_said_before_the_visitor_leaves(
    node: Node, terminal: TestClient
) -> None:
    """The paired home's address answers nothing (here: no such host): the visitor is told
    here, in words, rather than sent to a page that will not load. (The sign-in request
    itself is checked in the end-to-end test, against a real home.)"""
    page = terminal.get("/visit")
    with node.sessions() as db:
        home = service.find(db, "Maison Rose").id
    answer = terminal.post(
        "/visit/start", data={"home": home, "csrf_token": csrf(page.text)},
        headers={"accept-language": "en"},
    )  # fmt: skip
    assert answer.status_code == 502
    assert "Your home Maison Rose cannot be reached from here" in answer.text
    assert START_COOKIE not in answer.headers.get("set-cookie", "")


def _paired(node: Node) -> int:
    with transaction(node.sessions) as db:
        key = _public_b64(Ed25519PrivateKey.generate())
        return service.pin(db, key, "Maison Rose", HOME, "x" * 43).id


def test_a_sign_in_answer_is_refused_unless_its_state_is_this_browsers(node: Node) -> None:
    visitors, peer_id = Visitors(node), _paired(node)
    key, pending = visitors.start(peer_id)
    with pytest.raises(SignInRefused, match="does not match"):
        visitors.finish(key, "not-" + pending.state)
    with pytest.raises(SignInRefused, match="not started on this device"):
        visitors.finish(key, pending.state)  # used up by the wrong answer
    key, pending = visitors.start(peer_id)
    with pytest.raises(SignInRefused, match="not started on this device"):
        visitors.finish("another-browsers-key", pending.state)
    assert visitors.finish(key, pending.state) == pending


def test_a_callback_this_browser_did_not_start_is_refused(terminal: TestClient) -> None:
    answer = terminal.get("/visit/callback?code=abc&state=def", headers={"accept-language": "en"})
    assert answer.status_code == 400 and "not started on this device" in answer.text


def test_a_cookie_naming_no_visit_never_reaches_this_nodes_pages(
    node: Node, terminal: TestClient
) -> None:
    terminal.cookies.set(VISIT_COOKIE, "made-up")
    answer = terminal.get("/account")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert f'{VISIT_COOKIE}=""' in answer.headers["set-cookie"]
    assert answer.headers["clear-site-data"] == '"cache", "storage"'


def _token(key: Ed25519PrivateKey, **claims: object) -> str:
    from joserfc import jwt
    from joserfc.jwk import OKPKey

    header = {"alg": "EdDSA", "kid": claims.pop("kid", HOME_ID)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode(header, claims, OKPKey.import_key(key), algorithms=["EdDSA"])


HOME_KEY = Ed25519PrivateKey.generate()
HOME_ID = node_id_of(HOME_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def _claims(**changed: object) -> dict[str, object]:
    good = {"iss": HOME, "aud": "terminal-id", "sub": "p1", "name": "Ada", "nonce": "n1"}
    return {**good, "exp": int(time.time()) + 300, **changed}


def test_the_id_token_is_checked_with_the_homes_pinned_key() -> None:
    check = (HOME_KEY.public_key(), HOME_ID, HOME, "terminal-id", "n1")
    assert check_id_token(_token(HOME_KEY, **_claims()), *check)["name"] == "Ada"
    wrong = [
        _token(Ed25519PrivateKey.generate(), **_claims()),  # another key
        _token(HOME_KEY, **_claims(aud="someone-else")),
        _token(HOME_KEY, **_claims(nonce="n2")),
        _token(HOME_KEY, **_claims(iss="http://elsewhere")),
        _token(HOME_KEY, **_claims(exp=int(time.time()) - 60)),
        _token(HOME_KEY, **_claims(kid="another-node")),
        "not.a.token",
    ]
    for token in wrong:
        with pytest.raises(SignInRefused):
            check_id_token(token, *check)


def test_the_challenge_is_rfc_7636s() -> None:
    # RFC 7636, appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge_of(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_visit_idle_past_the_shared_devices_time_is_forgotten_and_ended_at_home(
    node: Node,
) -> None:
    visitors, peer_id = Visitors(node), _paired(node)
    visit = Visit(peer_id, "Maison Rose", "Ada", "hv_token", time.time() + 3600, idle_seconds=60)
    key = visitors.open(visit)
    assert visitors.find(key).access_token == "hv_token"  # type: ignore[union-attr]
    with node.engine.connect() as connection:
        row = connection.execute(text("SELECT key_hash, sealed FROM hamlet_visitors")).one()
    assert key not in row.key_hash and b"hv_token" not in bytes(row.sealed)  # hashed, sealed
    with transaction(node.sessions) as db:
        db.execute(text("UPDATE hamlet_visitors SET last_used = last_used - 120"))
    assert visitors.find(key) is None
    assert [v.access_token for v in visitors.take_dropped()] == ["hv_token"]  # revoked at home
    assert visitors.find(key) is None and visitors.take_dropped() == []


def test_a_visit_begun_through_one_process_goes_on_through_another(node: Node) -> None:
    """Two stores on one database, as two processes serving the node (docs/scale.md)."""
    one, other, peer_id = Visitors(node), Visitors(node), _paired(node)
    key, pending = one.start(peer_id)
    assert other.finish(key, pending.state) == pending  # the home sent the browser elsewhere
    with pytest.raises(SignInRefused):
        one.finish(key, pending.state)  # and once only
    visit = Visit(peer_id, "Maison Rose", "Ada", "hv_token", time.time() + 3600, idle_seconds=60)
    key = other.open(visit)
    found = one.find(key)
    assert found is not None and (found.name, found.access_token) == ("Ada", "hv_token")
    assert found.client is not None and found.relay is not None  # its own connections
    assert one.forget(key) is not None
    assert other.find(key) is None and other.forget(key) is None  # logged out everywhere


def test_a_body_signed_by_its_digest_streams_and_verifies() -> None:
    """The relay's uploads: signed before the body streams, by its Content-Digest."""
    import asyncio
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from http_message_signatures import HTTPMessageSigner, algorithms

    from hameau.hamlet import signing
    from hameau.hamlet.signer import _OneKey

    key = Ed25519PrivateKey.generate()
    body = b"tomates noires\n" * 1000
    said = base64.b64encode(hashlib.sha256(body).digest()).decode()

    async def chunks() -> object:
        yield body[:7000]
        yield body[7000:]

    request = httpx.Request(
        "PUT", "http://home.example:8080/files/item/3/upload", content=chunks(),
        headers={"Content-Length": str(len(body))},
    )  # fmt: skip
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_OneKey("b", key)
    )
    signing.sign(signer, request, "b", "a-id", digest=f"sha-256=:{said}:")
    incoming = signing.Incoming(request.method, str(request.url), request.headers)
    found = signing.verify(incoming, None, lambda _: key.public_key(), "a-id", 60)
    assert found[0] == "b"
    assert request.headers["content-digest"] == f"sha-256=:{said}:"
    assert "transfer-encoding" not in request.headers  # framed by its length, as sent

    async def sent() -> bytes:
        return b"".join([part async for part in request.stream])  # type: ignore[union-attr]

    with ThreadPoolExecutor(1) as thread:  # a loop of its own, beside any other test's
        assert thread.submit(asyncio.run, sent()).result() == body

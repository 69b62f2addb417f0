"""The hamlet page through the app (no network to a peer needed): who may see it, what a
bad form gets, leaving with its confirmation, a peer left that cannot be checked."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

pytest.importorskip(
    "http_message_signatures", reason="not run: http-message-signatures is not installed"
)
from hameau.hamlet import service
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, csrf, log_in, post_form

ENGLISH = {"Accept-Language": "en"}


def pinned(node: Node, name: str = "B") -> int:
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with transaction(node.sessions) as db:
        return service.pin(db, base64.b64encode(key).decode(), name, "http://192.0.2.7:8080").id


def admin(node: Node):  # type: ignore[no-untyped-def]
    add_member(node, "camille", admin=True)
    client = browser(node)
    client.headers.update(ENGLISH)
    log_in(client, "camille")
    return client


def test_only_admins_see_the_page_and_its_navigation_entry(node: Node) -> None:
    camille = admin(node)
    add_member(node, "alex")
    alex = browser(node)
    alex.headers.update(ENGLISH)
    log_in(alex, "alex")
    assert alex.get("/hamlet").status_code == 403
    assert 'href="/hamlet"' not in alex.get("/").text
    page = camille.get("/hamlet")
    assert page.status_code == 200 and 'href="/hamlet" aria-current="page"' in page.text
    assert "No home is paired with this one yet" in page.text
    assert 'value="http://testserver"' in page.text  # the address, from the request's


def test_bad_invitation_forms_get_one_sentence(node: Node) -> None:
    camille = admin(node)
    made = post_form(camille, "/hamlet", "/hamlet/invite", address="https://a", hours="1000")
    assert made.status_code == 400 and "valid for up to 30 days" in made.text
    made = post_form(camille, "/hamlet", "/hamlet/invite", address="file:///etc", hours="2")
    assert made.status_code == 400 and "An address is an https:// URL" in made.text
    made = post_form(camille, "/hamlet", "/hamlet/invite", address="http://10.0.0.2:8080")
    assert made.status_code == 400 and "over HTTPS only" in made.text
    joined = post_form(
        camille, "/hamlet", "/hamlet/join", invitation="hello", address="https://10.0.0.3:8080"
    )
    assert joined.status_code == 400 and "This is not a hamlet invitation" in joined.text
    assert 'name="invitation"' in joined.text and ">hello</textarea>" in joined.text


def test_an_invitation_is_shown_as_text_and_qr_code(node: Node) -> None:
    camille = admin(node)
    made = post_form(camille, "/hamlet", "/hamlet/invite", address="https://10.0.0.2:8080/")
    text = re.search(r'id="invitation-text"[^>]*>([^<]+)</textarea>', made.text)
    assert made.status_code == 200 and text is not None
    assert service.parse(text.group(1)).address == "https://10.0.0.2:8080"
    assert '<svg role="img" aria-label="QR code of this invitation"' in made.text
    assert "It works once, until" in made.text and "(in 24 hours)" in made.text


def test_leaving_asks_first_then_lists_the_home_apart(node: Node) -> None:
    camille = admin(node)
    peer_id = pinned(node)
    confirm = camille.get(f"/hamlet/peers/{peer_id}/leave")
    assert confirm.status_code == 200 and "Leave B?" in confirm.text
    # Without the form's token (a forged cross-site post), nothing is left.
    assert camille.post(f"/hamlet/peers/{peer_id}/leave").status_code == 403
    left = camille.post(f"/hamlet/peers/{peer_id}/leave", data={"csrf_token": csrf(confirm.text)})
    assert left.status_code == 303 and left.headers["location"] == "/hamlet?done=left"
    page = camille.get("/hamlet?done=left")
    assert "Left: its requests are refused from now on." in page.text
    assert 'id="left-title"' in page.text and f'id="peer-{peer_id}"' not in page.text
    token = csrf(page.text)
    checked = camille.post(f"/hamlet/peers/{peer_id}/check", data={"csrf_token": token})
    assert checked.status_code == 409 and "This home was left" in checked.text
    with transaction(node.sessions) as db:
        assert service.trusted_key(db, service.find(db, "B").node_id) is None

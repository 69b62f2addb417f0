"""The rules of visits on the home's side, without a network: codes used once, by their peer,
within a minute; a visit ends when idle, after 12 hours, or when ended, and never works again;
the pseudonym a peer knows a member by; the sessions page lists visits apart."""

from __future__ import annotations

import base64
from datetime import timedelta

from sqlalchemy import select

from hameau.accounts.members import find_member
from hameau.accounts.sessions import Lifetimes
from hameau.hamlet import service, visits
from hameau.hamlet.models import HamletPeer
from hameau.hamlet.visit_models import HamletVisit, HamletVisitCode
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from tests.helpers import add_member, browser, log_in

PEER_KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.b64encode(bytes(range(1, 33))).decode()


def _peer(node: Node, key: str = PEER_KEY, name: str = "B") -> str:
    with transaction(node.sessions) as db:
        return service.pin(db, key, name, "http://192.0.2.20:8080").node_id


def _asked(peer: str) -> visits.CodeRequest:
    return visits.CodeRequest(
        peer, "http://192.0.2.20:8080/visit/callback", "openid", "n0", "c" * 43, "S256", "Tablet"
    )


def _visit(node: Node, peer: str) -> str:
    """A code given and exchanged: the visit's access token."""
    lifetimes = Lifetimes.from_settings(node.settings)
    with transaction(node.sessions) as db:
        visits.save_code(db, "the-code", find_member(db, "ana"), _asked(peer))
        taken = visits.take_code(db, "the-code", peer)
        assert taken is not None
        peer_row = db.scalars(select(HamletPeer).where(HamletPeer.node_id == peer)).one()
        _, token = visits.start(db, node.secret, lifetimes, taken, peer_row)
    return token


def test_a_code_is_used_once_by_its_peer_within_a_minute(node: Node) -> None:
    add_member(node, "ana")
    b, c = _peer(node), _peer(node, OTHER_KEY, "C")
    with transaction(node.sessions) as db:
        ana = find_member(db, "ana")
        visits.save_code(db, "one", ana, _asked(b))
        assert visits.take_code(db, "one", c) is None  # another peer's try uses it up too
        assert visits.take_code(db, "one", b) is None
        visits.save_code(db, "two", ana, _asked(b))
        assert visits.take_code(db, "two", b) is not None
        assert visits.take_code(db, "two", b) is None
        visits.save_code(db, "three", ana, _asked(b))
        stored = db.scalars(select(HamletVisitCode)).one()
        assert "three" not in stored.code_hash
        stored.expires_at = utcnow() - timedelta(seconds=1)
        assert visits.take_code(db, "three", b) is None


def test_a_visit_works_for_its_peer_until_idle_or_twelve_hours(node: Node) -> None:
    add_member(node, "ana")
    b, c = _peer(node), _peer(node, OTHER_KEY, "C")
    lifetimes = Lifetimes.from_settings(node.settings)
    token = _visit(node, b)
    with transaction(node.sessions) as db:
        assert visits.live(db, token, b, lifetimes) is not None
        assert visits.live(db, token, c, lifetimes) is None  # bound to the peer
        assert visits.live(db, "hv_" + "x" * 43, b, lifetimes) is None
        visit = db.scalars(select(HamletVisit)).one()
        assert token not in visit.token_hash and visit.ended_at is None
        assert visit.login is not None and visit.login.shared  # the shared devices' rules
        visit.login.last_seen_at -= lifetimes.shared_idle + timedelta(seconds=1)
    with transaction(node.sessions) as db:
        assert visits.live(db, token, b, lifetimes) is None
        visit = db.scalars(select(HamletVisit)).one()
        assert visit.ended_by == "idle"

    token = _visit(node, b)
    with transaction(node.sessions) as db:
        visit = db.scalars(select(HamletVisit).order_by(HamletVisit.id.desc())).first()
        assert visit is not None
        visit.started_at -= visits.VISIT_LIFETIME + timedelta(seconds=1)
    with transaction(node.sessions) as db:
        assert visits.live(db, token, b, lifetimes) is None
        ended = visits.for_member(db, find_member(db, "ana"), lifetimes)
        assert [each.ended_by for each in ended] == ["idle", "expired"]  # the latest first


def test_the_peer_knows_a_member_by_a_pseudonym_of_its_own() -> None:
    secret = b"s" * 32
    for_b = visits.pseudonym(secret, 1, "nodeb")
    assert for_b == visits.pseudonym(secret, 1, "nodeb")
    assert for_b != visits.pseudonym(secret, 1, "nodec")
    assert for_b != visits.pseudonym(secret, 2, "nodeb")
    assert for_b != visits.pseudonym(b"t" * 32, 1, "nodeb")


def test_the_sessions_page_lists_visits_apart_and_ends_one(node: Node) -> None:
    add_member(node, "ana")
    token = _visit(node, _peer(node))
    client = browser(node)
    log_in(client, "ana")
    page = client.get("/account/sessions")
    assert page.status_code == 200
    assert (
        "Visites depuis d’autres maisons" in page.text and "Tablet" in page.text
    )  # fr: the default
    assert page.text.count('action="/account/sessions/') == 1  # only this browser's session
    found = page.text.split('action="/account/visits/')[1].split("/end")[0]
    token_field = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    ended = client.post(f"/account/visits/{found}/end", data={"csrf_token": token_field})
    assert ended.status_code == 303
    with transaction(node.sessions) as db:
        lifetimes = Lifetimes.from_settings(node.settings)
        assert visits.live(db, token, _peer_id(db), lifetimes) is None
        assert db.scalars(select(HamletVisit)).one().ended_by == "member"
    other = browser(node)  # another member cannot end it
    add_member(node, "bob")
    log_in(other, "bob")
    page = other.get("/account/sessions")
    field = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = other.post(f"/account/visits/{found}/end", data={"csrf_token": field})
    assert refused.status_code == 404


def _peer_id(db: object) -> str:
    return db.scalars(select(HamletPeer)).first().node_id  # type: ignore[attr-defined]

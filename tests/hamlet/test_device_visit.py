"""Device sign-ins of visits (RFC 8628) without a network: the user code's rules, the
interval and its slowing down, the member's answer on the home's page (approve, refuse, a
wrong or expired code), an approved sign-in used once, and how the terminal reads the home's
answers to its polls."""

from __future__ import annotations

import base64
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from hameau.accounts.members import find_member
from hameau.hamlet import service, visit_devices
from hameau.hamlet.device_sign_ins import CLAIM, DeviceSignIn, DeviceSignIns
from hameau.hamlet.terminal_device import after_refusal
from hameau.hamlet.visit_models import HamletVisitDevice
from hameau.node.datadir import Node
from hameau.node.db import transaction, utcnow
from tests.helpers import add_member, browser, csrf, log_in

PEER_KEY = base64.b64encode(bytes(range(32))).decode()
TERMINAL = "Terminal du hall"
PAGE = "/hamlet/visit/device"


def test_a_user_code_is_eight_unambiguous_letters_shown_in_two_groups() -> None:
    for _ in range(200):
        code = visit_devices.new_user_code()
        assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", code), code
        assert (
            not set(code) & set("AEIOUY01")
            and visit_devices.normalized(code) == code[:4] + code[5:]
        )
    assert visit_devices.normalized(" bcdf-ghjk ") == "BCDFGHJK"  # as a person types it
    assert visit_devices.normalized("bcdfghjk") == "BCDFGHJK"
    assert visit_devices.normalized("BCDF-GHJ") is None  # too short
    assert visit_devices.normalized("BCDF-GHJA") is None  # a vowel is never in a code
    assert visit_devices.normalized("BCDF-GHJ0") is None
    assert visit_devices.shown("BCDFGHJK") == "BCDF-GHJK"


def test_a_poll_before_the_interval_slows_the_terminal_down() -> None:
    now = utcnow()
    assert not visit_devices.too_soon(None, 5, now)  # the first poll
    assert visit_devices.too_soon(now - timedelta(seconds=4), 5, now)
    assert not visit_devices.too_soon(now - timedelta(seconds=5), 5, now)
    assert visit_devices.expired(now, now) and not visit_devices.expired(now + timedelta(1), now)


def _sign_in() -> DeviceSignIn:
    return _sign_in_of(1)


def _sign_in_of(peer_id: int) -> DeviceSignIn:
    now = time.time()
    return DeviceSignIn(peer_id, "dc", "BCDF-GHJK", "https://a", "https://a?u", now + 600, 5, "n")


def test_the_terminal_reads_each_answer_to_its_polls_as_rfc_8628_says() -> None:
    waiting = _sign_in()
    after_refusal(waiting, "authorization_pending", 100.0)
    assert (waiting.outcome, waiting.next_poll, waiting.interval) == ("", 105.0, 5)
    after_refusal(waiting, "slow_down", 200.0)
    assert (waiting.outcome, waiting.next_poll, waiting.interval) == ("", 210.0, 10)
    after_refusal(waiting, "", 300.0)  # the home did not answer: try again later
    assert waiting.outcome == "" and waiting.unreachable and waiting.next_poll == 310.0
    for error, outcome in (
        ("access_denied", "denied"), ("expired_token", "expired"),
        ("unauthorized_client", "refused"), ("invalid_request", "refused"),
    ):  # fmt: skip
        ended = _sign_in()
        after_refusal(ended, error, 0.0)
        assert ended.outcome == outcome


def _peer(node: Node) -> int:
    with transaction(node.sessions) as db:
        return service.pin(db, PEER_KEY, "B", "https://192.0.2.20:8443").id


def test_the_terminal_finds_a_sign_in_only_by_its_own_cookie(node: Node) -> None:
    store = DeviceSignIns(node)
    key = store.start(_sign_in_of(_peer(node)))
    found = store.find(key)
    assert found is not None and (found.device_code, found.nonce) == ("dc", "n")
    assert store.find("other") is None and store.find("") is None
    with node.engine.connect() as connection:
        row = connection.execute(text("SELECT key_hash, sealed FROM hamlet_device_sign_ins")).one()
    assert key not in row.key_hash and b"dc" not in bytes(row.sealed)  # hashed, sealed
    assert store.forget(key) and not store.forget(key)  # once
    assert store.find(key) is None


def test_a_device_sign_in_started_through_one_process_is_polled_through_another(
    node: Node,
) -> None:
    """Two stores on one database, as two processes serving the node (docs/scale.md): the
    waiting page's polls reach either, and only one of them asks the home at a time."""
    one, other = DeviceSignIns(node), DeviceSignIns(node)
    started = _sign_in_of(_peer(node))
    key = one.start(started)
    now = started.next_poll
    assert other.find(key) == started
    assert other.claim(key, now)
    assert not one.claim(key, now) and not other.claim(key, now)  # a poll under way
    polled = other.find(key)
    assert polled is not None
    after_refusal(polled, "slow_down", now)
    other.record(key, polled)
    assert one.find(key) == polled and polled.interval == 10
    assert not one.claim(key, now + 9)  # the interval, slowed down, is not over
    assert one.claim(key, now + 10)
    assert other.claim(key, now + 10 + CLAIM + 1)  # a process killed mid-poll holds it no more
    polled.outcome = "denied"
    one.record(key, polled)
    assert other.find(key).outcome == "denied"  # type: ignore[union-attr]
    assert not other.claim(key, now + 3600)  # over: never polled again


def _asked(node: Node, device_code: str = "the-device-code") -> str:
    """A device sign-in asked by paired home B's terminal: its user code, as shown."""
    user_code = visit_devices.new_user_code()
    with transaction(node.sessions) as db:
        peer = service.pin(db, PEER_KEY, "B", "https://192.0.2.20:8443")
        visit_devices.save(db, device_code, user_code, peer.node_id, "openid", "n0", TERMINAL)
    return user_code


def test_the_member_approves_the_code_a_terminal_shows_once(node: Node) -> None:
    add_member(node, "ana")
    user_code = _asked(node)
    client = browser(node)
    answer = client.get(PAGE, params={"user_code": user_code}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    log_in(client, "ana")
    page = client.get(PAGE, params={"user_code": user_code.lower()})
    assert page.status_code == 200
    said = "Le terminal « Terminal du hall » de la maison B demande à ouvrir votre environnement."
    assert said in page.text and user_code in page.text
    refused = client.post(PAGE, data={"user_code": user_code, "decision": "approve"})
    assert refused.status_code == 403  # no CSRF token: nothing decided
    done = client.post(
        PAGE, data={"csrf_token": csrf(page.text), "user_code": user_code, "decision": "approve"}
    )
    assert done.status_code == 200 and "Accepté" in done.text
    with transaction(node.sessions) as db:
        row = db.scalars(select(HamletVisitDevice)).one()
        assert row.approved and row.member_id == find_member(db, "ana").id
        assert "the-device-code" not in row.device_code_hash
    again = client.get(PAGE, params={"user_code": user_code})
    assert again.status_code == 404  # answered once


@pytest.mark.parametrize("typed", ["BCDF-GHJK", "not a code", ""])
def test_a_wrong_code_opens_nothing(node: Node, typed: str) -> None:
    add_member(node, "ana")
    _asked(node)
    client = browser(node)
    log_in(client, "ana")
    page = client.get(PAGE, params={"user_code": typed} if typed else {})
    if not typed:
        assert page.status_code == 200 and 'name="user_code"' in page.text
        return
    assert page.status_code == 404 and "Ce code est faux" in page.text
    posted = client.post(
        PAGE, data={"csrf_token": csrf(page.text), "user_code": typed, "decision": "approve"}
    )
    assert posted.status_code == 404
    with transaction(node.sessions) as db:
        assert db.scalars(select(HamletVisitDevice)).one().approved is None


def test_wrong_codes_are_limited_like_failed_logins_and_the_right_one_then_waits(
    node: Node,
) -> None:
    add_member(node, "ana")
    user_code = _asked(node)
    client = browser(node)
    log_in(client, "ana")
    limit = node.settings.login_max_failures
    for _ in range(limit):
        assert client.get(PAGE, params={"user_code": "BCDF-GHJK"}).status_code == 404
    held = client.get(PAGE, params={"user_code": user_code})  # even the right code waits now
    assert held.status_code == 429 and "Trop de codes faux" in held.text
    posted = client.post(
        PAGE, data={"csrf_token": csrf(held.text), "user_code": user_code, "decision": "approve"}
    )
    assert posted.status_code == 429
    with transaction(node.sessions) as db:
        assert db.scalars(select(HamletVisitDevice)).one().approved is None


def test_an_expired_or_refused_code_is_never_approved(node: Node) -> None:
    add_member(node, "ana")
    user_code = _asked(node)
    client = browser(node)
    log_in(client, "ana")
    page = client.get(PAGE, params={"user_code": user_code})
    done = client.post(
        PAGE, data={"csrf_token": csrf(page.text), "user_code": user_code, "decision": "refuse"}
    )
    assert done.status_code == 200 and "Refusé" in done.text
    with transaction(node.sessions) as db:
        assert db.scalars(select(HamletVisitDevice)).one().approved is False
    late = _asked(node, "another-device-code")
    with transaction(node.sessions) as db:
        row = db.scalars(
            select(HamletVisitDevice).where(HamletVisitDevice.approved.is_(None))
        ).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert client.get(PAGE, params={"user_code": late}).status_code == 404


def test_polls_slow_down_and_an_approved_sign_in_is_taken_once(node: Node) -> None:
    add_member(node, "ana")
    _asked(node)
    with transaction(node.sessions) as db:
        row = visit_devices.by_device_code(db, "the-device-code")
        assert row is not None and visit_devices.by_device_code(db, "other") is None
        assert not visit_devices.polled(row)  # the first poll
        assert visit_devices.polled(row) and row.interval == 10  # too soon: slower
        visit_devices.decide(row, find_member(db, "ana"), approved=True)
        assert visit_devices.take(db, row)
        assert not visit_devices.take(db, row)  # a second poll gets nothing
        assert visit_devices.by_device_code(db, "the-device-code") is None


def test_the_terminal_side_works_only_on_a_shared_device(node: Node) -> None:
    add_member(node, "ana")
    page = browser(node).get("/visit/device")  # a browser that is no shared device here
    assert page.status_code == 400
    assert "Les visites depuis une autre maison commencent sur un appareil partagé" in page.text

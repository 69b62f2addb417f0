"""The AI lent to peers, without a network or a model: a peer's policy (closed by default,
models, requests a day), the usage counted, the asker's pseudonym, and the admins' page."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hameau.ai import elsewhere
from hameau.ai import lending as ai_lending
from hameau.errors import Forbidden, TooManyRequests
from hameau.hamlet import service
from hameau.hamlet.models import HamletPeer
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, log_in, make_node, post_form

MODEL = "gemma-3-270m"


def paired(node: Node, name: str) -> int:
    key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with transaction(node.sessions) as db:
        peer = service.pin(db, base64.b64encode(key).decode(), name, f"http://{name}.example")
        return peer.id


def test_closed_until_opened_then_its_models_and_requests_a_day(node: Node) -> None:
    peer_id = paired(node, "H")
    with transaction(node.sessions) as db:
        peer = db.get(HamletPeer, peer_id)
        assert ai_lending.offer_to(db, peer).models == []
        with pytest.raises(Forbidden, match="not open to your home"):
            ai_lending.admit(db, peer, MODEL)
        ai_lending.set_policy(db, peer, open_=True, per_day=2, default_models=(MODEL,))
        assert ai_lending.offer_to(db, peer) == ai_lending.Offer([MODEL], 2, 2)
        with pytest.raises(Forbidden, match="other is not open to your home here"):
            ai_lending.admit(db, peer, "other")
        ai_lending.admit(db, peer, MODEL)
        ai_lending.record(db, ai_lending.Lent(peer_id, "p" * 24, MODEL, "q", "a", 10, 4, 0.5, 1))
        ai_lending.admit(db, peer, MODEL)
        with pytest.raises(TooManyRequests, match="used its 2 requests for today"):
            ai_lending.admit(db, peer, MODEL)
        used = ai_lending.usage(db, peer)[0]
        assert (used.requests, used.prompt_tokens, used.completion_tokens) == (2, 10, 4)
        assert used.cpu_seconds == 0.5 and ai_lending.offer_to(db, peer).left_today == 0
        ai_lending.set_policy(db, peer, open_=False)
        with pytest.raises(Forbidden, match="not open to your home"):
            ai_lending.admit(db, peer, MODEL)


def test_a_pseudonym_is_stable_per_member_and_lender_and_differs_elsewhere(node: Node) -> None:
    one = elsewhere.pseudonym(node, 7, "lender-a")
    assert one == elsewhere.pseudonym(node, 7, "lender-a") and len(one) == 24
    assert one != elsewhere.pseudonym(node, 7, "lender-b")
    assert one != elsewhere.pseudonym(node, 8, "lender-a")


def test_admins_open_a_peer_on_the_page_and_members_may_not(node: Node) -> None:
    peer_id = paired(node, "H")
    add_member(node, "ada", admin=True)
    add_member(node, "sam")
    member = browser(node)
    log_in(member, "sam")
    assert member.get("/hamlet/ai").status_code == 403
    admin = browser(node)
    log_in(admin, "ada")
    assert "lent-H" in admin.get("/hamlet/ai").text
    fields = {"open": "1", "per_day": "7", "models": MODEL}
    saved = post_form(admin, "/hamlet/ai", f"/hamlet/ai/{peer_id}", **fields)
    assert saved.status_code == 303
    with node.sessions() as db:
        policy = ai_lending.policy_of(db, db.get(HamletPeer, peer_id))
        assert (policy.open, policy.per_day, policy.models) == (True, 7, [MODEL])
    closed = post_form(admin, "/hamlet/ai", f"/hamlet/ai/{peer_id}", per_day="7")
    assert closed.status_code == 303 and 'role="status"' in admin.get("/hamlet/ai?done=saved").text
    with node.sessions() as db:
        assert not ai_lending.policy_of(db, db.get(HamletPeer, peer_id)).open


def _at_once(node: Node, first: Any, second: Any) -> list[Exception]:
    """``first`` in one transaction left open, ``second`` meanwhile in another (two processes
    serving one peer's requests), committed in a thread; then ``first`` commits. What
    ``second`` raised."""
    raised: list[Exception] = []

    def other() -> None:
        try:
            with transaction(node.sessions) as db:
                second(db)
        except Exception as error:  # said to the test
            raised.append(error)

    with transaction(node.sessions) as db:
        first(db)
        thread = threading.Thread(target=other)
        thread.start()
        deadline = time.monotonic() + 30  # until the other is done or waits for this one
        while thread.is_alive() and not _waiting_for_a_lock(node):
            assert time.monotonic() < deadline, "the other transaction neither ended nor waited"
            time.sleep(0.01)
    thread.join(30)
    return raised


def _waiting_for_a_lock(node: Node) -> bool:
    with node.engine.connect() as connection:
        waiting = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return bool(connection.exec_driver_sql(waiting).scalar())


def test_two_processes_counting_a_peer_at_once_lose_no_request_nor_token(pg_url: str,
                                                                          tmp_path: Any) -> None:  # fmt: skip
    """On PostgreSQL, where several processes count: the day's last request is given once,
    and the tokens of two answers recorded at once are both counted."""
    node = make_node(tmp_path / "node", database_url=pg_url)
    try:
        peer_id = paired(node, "H")
        with transaction(node.sessions) as db:
            peer = db.get(HamletPeer, peer_id)
            ai_lending.set_policy(db, peer, open_=True, per_day=2, default_models=(MODEL,))
            ai_lending.admit(db, peer, MODEL)  # one of the two used

        def ask(db: Any) -> None:
            ai_lending.admit(db, db.get(HamletPeer, peer_id), MODEL)

        refused = _at_once(node, ask, ask)
        assert [type(error) for error in refused] == [TooManyRequests]

        def answered(tokens: int) -> Any:
            lent = ai_lending.Lent(peer_id, "p" * 24, MODEL, "q", "a", tokens, 1, 0.25, 1)
            return lambda db: ai_lending.record(db, lent)

        assert _at_once(node, answered(10), answered(5)) == []
        with node.sessions() as db:
            used = ai_lending.usage(db, db.get(HamletPeer, peer_id))[0]
            assert (used.requests, used.prompt_tokens, used.completion_tokens) == (2, 15, 2)
            assert used.cpu_seconds == 0.5
    finally:
        node.close()

"""The moving pages on one node, through its real app: the proposal on a member's home page
when most of their sessions were visits through one peer (and not below the threshold), "not
now", consent and the admins' preset (an automatic move only with both), the plan page and
its button, the report, and who may see what. Visits are made by the visits' own functions
(hameau/hamlet/visits.py), as a peer's terminal exchanging a code would."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select

from hameau.accounts.members import find_member
from hameau.accounts.sessions import Lifetimes
from hameau.hamlet import service as hamlet
from hameau.hamlet import visits
from hameau.hamlet.models import HamletPeer
from hameau.moving import proposal, service
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, browser, csrf, log_in

B_KEY = base64.b64encode(bytes(range(32))).decode()
C_KEY = base64.b64encode(bytes(range(1, 33))).decode()


def pair(node: Node, key: str = B_KEY, name: str = "Les Tilleuls") -> HamletPeer:
    with transaction(node.sessions) as db:
        peer = hamlet.pin(db, key, name, "https://192.0.2.20:8443")
        db.expunge(peer)
        return peer


def visit(node: Node, member: str, peer: HamletPeer, times: int = 1) -> None:
    """`times` visits of `member` from `peer`'s terminal: a code given, exchanged, a visit."""
    lifetimes = Lifetimes.from_settings(node.settings)
    asked = visits.CodeRequest(
        peer.node_id, visits.callback_of(peer), "openid", "n", "c" * 43, "S256", "Hall"
    )
    for number in range(times):
        with transaction(node.sessions) as db:
            visits.save_code(db, f"code-{member}-{number}", find_member(db, member), asked)
            taken = visits.take_code(db, f"code-{member}-{number}", peer.node_id)
            row = db.scalars(select(HamletPeer).where(HamletPeer.id == peer.id)).one()
            visits.start(db, node.secret, lifetimes, taken, row)  # type: ignore[arg-type]


def home(client: Any) -> str:
    answer = client.get("/")
    assert answer.status_code == 200, answer.text
    return answer.text


def set_preset(node: Node, on: bool) -> None:
    with transaction(node.sessions) as db:
        proposal.set_automatic(db, on, "camille")


@pytest.mark.parametrize(
    ("counts", "sessions", "expected"),
    [
        ({"b": 4}, 5, "b"),  # 80 %: exactly the threshold
        ({"b": 3}, 5, None),  # 60 %
        ({"b": 2}, 2, None),  # two visits are an outing
        ({"b": 4, "c": 1}, 5, "b"),
        ({"b": 2, "c": 2}, 4, None),
        ({}, 9, None),
        ({"b": 5}, 0, "b"),  # sessions forgotten: the visits still count as sessions
    ],
)
def test_the_rule_names_the_peer_of_most_sessions(
    counts: dict[str, int], sessions: int, expected: str | None
) -> None:
    assert proposal.leading_peer(counts, sessions, 0.8) == expected


def test_a_member_who_mostly_visits_through_one_home_is_proposed_to_move_there(node: Node) -> None:
    add_member(node, "ana")
    add_member(node, "bob")
    b = pair(node)
    visit(node, "ana", b, 4)  # and one login below: 4 of 5 sessions
    visit(node, "bob", b, 3)
    ana = browser(node)
    log_in(ana, "ana")
    page = home(ana)
    assert "Les Tilleuls" in page and "80" in page
    assert f'href="/account/move?peer={b.id}"' in page
    bob = browser(node)
    log_in(bob, "bob")
    log_in(browser(node), "bob")  # 3 of 5: below 80 %
    assert 'id="move-proposal"' not in home(bob)
    plan = ana.get(f"/account/move?peer={b.id}")
    assert plan.status_code == 200 and 'id="plan"' in plan.text
    assert "Déménager ma maison vers Les Tilleuls" in plan.text


def test_not_now_sets_the_proposal_aside(node: Node) -> None:
    add_member(node, "ana")
    b = pair(node)
    visit(node, "ana", b, 4)
    ana = browser(node)
    log_in(ana, "ana")
    page = home(ana)
    assert 'id="move-proposal"' in page
    answer = ana.post("/account/move/not-now", data={"peer": str(b.id), "csrf_token": csrf(page)})
    assert answer.status_code == 303
    assert 'id="move-proposal"' not in home(ana)


def test_an_automatic_move_starts_only_with_the_members_consent(node: Node) -> None:
    add_member(node, "ana")
    add_member(node, "eve")
    b = pair(node)
    for name in ("ana", "eve"):
        visit(node, name, b, 4)
    set_preset(node, True)
    eve = browser(node)
    log_in(eve, "eve")
    assert 'id="move-proposal"' in home(eve)  # proposed, never started: no consent
    assert service.moves(node, "eve") == []
    ana = browser(node)
    log_in(ana, "ana")
    page = ana.get("/account/move").text
    ana.post("/account/move/consent", data={"consent": "yes", "csrf_token": csrf(page)})
    assert 'name="consent" value="yes" checked' in ana.get("/account/move").text
    set_preset(node, False)
    home(ana)
    assert service.moves(node, "ana") == []  # consent alone: no automatic move
    set_preset(node, True)
    page = home(ana)
    started = service.moves(node, "ana")
    assert [(m.by, m.member_name, m.peer_id) for m in started] == [("automatic", "ana", b.id)]
    assert f'href="/moves/{started[0].move_id}"' in page
    home(ana)
    assert len(service.moves(node, "ana")) == 1  # one move, not one per page view


def test_the_plan_page_shows_what_moves_and_its_button_starts_the_move(node: Node) -> None:
    add_member(node, "ana")
    add_member(node, "bob")
    add_member(node, "camille", admin=True)
    b = pair(node)
    ana = browser(node)
    log_in(ana, "ana")
    page = ana.get("/account/move").text
    assert f'<option value="{b.id}"' in page and 'id="plan"' not in page
    page = ana.get(f"/account/move?peer={b.id}").text
    assert "Fichiers" in page and "Historique de l’IA" in page and "environ" in page
    asked = ana.get(f"/account/move?peer={b.id}&ask=1")  # B is not served here: said, or known
    assert asked.status_code == 200 and 'id="plan"' in asked.text
    assert "n’y sont pas encore" in asked.text or 'role="alert"' in asked.text
    started = ana.post("/account/move", data={"peer": str(b.id), "csrf_token": csrf(page)})
    assert started.status_code == 303
    report = started.headers["location"]
    shown = ana.get(report)
    assert shown.status_code == 200 and "Les Tilleuls" in shown.text
    assert 'hx-trigger="every 5s"' in shown.text  # refreshed while it runs
    assert "/moves/" in ana.get("/account/move").text  # under way: a link, no second start
    bob = browser(node)
    log_in(bob, "bob")
    assert bob.get(report).status_code == 404  # another member's move is not theirs to see
    admin = browser(node)
    log_in(admin, "camille")
    assert admin.get(report).status_code == 200
    assert admin.get("/moves").status_code == 200
    assert bob.get("/moves").status_code == 403
    assert ana.get("/account/move?peer=999").status_code == 404


def test_a_move_looked_at_is_run_by_one_worker_and_a_waiting_one_not_asked_too_often(
    node: Node,
) -> None:
    from types import SimpleNamespace

    from hameau.moving.driving import Drives

    drives = Drives(node)
    waiting = SimpleNamespace(move_id="m1", role="out", state="waiting")
    assert drives.drive(waiting) is True
    assert drives.drive(waiting) is False  # asked again within WAITING_EVERY: not yet
    for other in (("in", "waiting"), ("out", "done"), ("out", "failed"), ("in", "copying")):
        role, state = other
        assert drives.drive(SimpleNamespace(move_id="m2", role=role, state=state)) is False

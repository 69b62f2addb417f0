"""`hameau move`: a member's whole environment moves between two homes served as processes
(A, B; C paired and uninvolved), by hash, verified, with exactly one home at the end; the
receiving admin's acceptance; a rollback after writes at the new home; alex's credit account
(on the hamlet's ledger, A its notary) and its balance are theirs at the new home."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hameau.accounts import members
from hameau.accounts.models import AppToken, Device, Member
from hameau.ai.models import AIQuery
from hameau.calendar.store import CalendarStore
from hameau.messages import service as messages
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.notes import service as notes
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.helpers import add_member
from tests.test_environment import files_of, furnish, opened


@dataclass
class Moved:
    homes: dict[str, Home]
    secret: str  # alex's app password, made at A
    before: dict[str, object]  # what alex's files were at A
    out: str  # what `hameau move` said


def environment_of(node: Node, name: str) -> dict[str, object]:
    """What a person sees of the rest: events, contacts, notes, messages, AI history, devices
    and app passwords (their hashes), their password's hash."""
    store = CalendarStore(node)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    with transaction(node.sessions) as session:
        member = members.find_member(session, name)
        summaries = messages.inbox(session, member)
        return {
            "events": [e.summary for e in store.events(name, start, start + timedelta(days=7))],
            "contacts": [(c.name, c.emails) for c in store.contacts(name)],
            "notes": [notes.text_of(session, n) for n in notes.mine(session, member)],
            "messages": [[m.body for m in messages.messages(session, s.thread)] for s in summaries],
            "ai": [
                (q.question, q.answer)
                for q in session.scalars(select(AIQuery).where(AIQuery.member_id == member.id))
            ],
            "devices": sorted(
                d.name for d in session.scalars(select(Device).where(Device.owner_id == member.id))
            ),
            "tokens": sorted(
                t.token_hash
                for t in session.scalars(select(AppToken).where(AppToken.member_id == member.id))
            ),
            "password": member.password_hash,
        }


def member_row(root: Path, name: str) -> Member | None:
    node = opened(root)
    try:
        with node.sessions() as session:
            found = session.scalar(select(Member).where(Member.name == name))
            if found is not None:
                session.expunge(found)
            return found
    finally:
        node.close()


def furnished(home: Home) -> tuple[str, dict[str, object], dict[str, object]]:
    node = opened(home.data_dir)
    try:
        secret = furnish(node)
        return secret, files_of(node, "alex"), environment_of(node, "alex")
    finally:
        node.close()


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moved]:
    root = tmp_path_factory.mktemp("moving")
    rule = {"B": {"HAMEAU_MOVING_ACCEPT_FROM": "A"}}
    with hamlet(root, pairs=(("B", "A"), ("C", "A"), ("C", "B")), env=rule) as homes:
        secret, before, rest = furnished(homes["A"])
        target = opened(homes["B"].data_dir)
        add_member(target, "sam")  # the housemate the photos are shared with lives there too
        target.close()
        issued = homes["A"].run("ledger", "issue", "alex", "5")  # alex's account, opened at A
        assert issued.returncode == 0, issued.stderr
        done = homes["A"].run("move", "alex", "--to", "B")
        assert done.returncode == 0, done.stderr + done.stdout
        yield Moved(homes, secret, {**before, "rest": rest}, done.stdout)


def test_everything_arrives_at_the_new_home(moved: Moved) -> None:
    assert "alex moved to B" in moved.out
    target = opened(moved.homes["B"].data_dir)
    try:
        after = {**files_of(target, "alex"), "rest": environment_of(target, "alex")}
        # Others' messages in a conversation arrive signed with their name, as an import does.
        said = after["rest"]["messages"]  # type: ignore[index]
        assert said == [["On s'y met ?", "Sam: Oui, samedi !"]]
        said[0][1] = "Oui, samedi !"
        assert after == moved.before
        for digest, _revision in after["live"].values():  # type: ignore[attr-defined]
            assert target.blobs.verify(digest) is None
    finally:
        target.close()


def test_exactly_one_home_and_the_uninvolved_peer_has_nothing(moved: Moved) -> None:
    old = member_row(moved.homes["A"].data_dir, "alex")
    new = member_row(moved.homes["B"].data_dir, "alex")
    assert old is not None and new is not None
    assert old.moved_to == moved.homes["B"].url and old.frozen_at is None
    assert new.home_here and new.frozen_at is None
    assert member_row(moved.homes["C"].data_dir, "alex") is None
    counts = set()
    for name in ("A", "B"):
        status = moved.homes[name].run("move", "status", "alex")
        assert status.returncode == 0 and "done" in status.stdout, status.stdout
        counts.add(int(re.search(r"(\d+) verified", status.stdout)[1]))  # type: ignore[index]
    # Both homes report the whole move's count, not the last stream's answer's.
    assert len(counts) == 1 and counts.pop() > 0, counts


def test_the_app_password_works_at_the_new_home(moved: Moved) -> None:
    home = moved.homes["B"]
    answer = httpx.get(
        home.url + "/dav/files/mine/lettre.txt", auth=("alex", moved.secret), verify=home.verify
    )
    assert answer.status_code == 200 and answer.content == b"v3 (3)"


def _ledger(home: Home, *args: str) -> str:
    done = home.run("ledger", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_credit_account_and_its_balance_follow_to_the_new_home(moved: Moved) -> None:
    """B adopts the hamlet's ledger (A opened it) and finds alex's account there: the same
    account (the key the move carried), the 5 € issued at A before the move. alex pays sam
    from B: signed at B, sequenced by A; both homes' ledgers verify and agree."""
    old, new = moved.homes["A"], moved.homes["B"]
    at_a, at_b = _ledger(old, "balance", "alex"), _ledger(new, "balance", "alex")
    assert "5,00" in at_b and at_b.split(":")[0] == at_a.split(":")[0]  # label (account id)
    _ledger(new, "balance", "sam")  # sam, who lives at B, opens an account
    assert "1,25" in _ledger(new, "transfer", "alex", "sam", "1,25", "--memo", "moved")
    for home in (old, new):  # A sequenced it (its notary); B pulled it back
        assert "3,75" in _ledger(home, "balance", "alex")
        assert "moved" in _ledger(home, "history", "alex")
        assert "sound" in _ledger(home, "verify")


def test_moving_again_says_it_is_done_and_elsewhere_where_the_home_is(moved: Moved) -> None:
    """The same command again (cut after the switch) says the move is done; a move to
    another home from the old one says where the member's home is now."""
    again = moved.homes["A"].run("move", "alex", "--to", "B")
    assert again.returncode == 0 and "alex moved to B" in again.stdout, again.stderr
    elsewhere = moved.homes["A"].run("move", "alex", "--to", "C")
    assert elsewhere.returncode != 0 and "home is" in elsewhere.stderr, elsewhere.stderr


def test_rollback_brings_back_what_was_written_at_the_new_home(moved: Moved) -> None:
    home = moved.homes["B"]
    written = b"written at B after the move"
    put = httpx.put(
        home.url + "/dav/files/mine/at-b.txt", content=written, auth=("alex", moved.secret),
        verify=home.verify,
    )  # fmt: skip
    assert put.status_code in (201, 204), put.text
    back = home.run("move", "rollback", "alex")
    assert back.returncode == 0, back.stderr + back.stdout
    assert "alex moved to A" in back.stdout
    old = member_row(moved.homes["A"].data_dir, "alex")
    new = member_row(home.data_dir, "alex")
    assert old is not None and old.home_here and old.frozen_at is None
    assert new is not None and new.moved_to == moved.homes["A"].url
    a = moved.homes["A"]
    answer = httpx.get(
        a.url + "/dav/files/mine/at-b.txt", auth=("alex", moved.secret), verify=a.verify
    )
    assert answer.status_code == 200 and answer.content == written
    node = opened(a.data_dir)
    try:
        live = files_of(node, "alex")["live"]
        assert live["at-b.txt"][0] == hashlib.sha256(written).hexdigest()  # type: ignore[index]
    finally:
        node.close()


def test_the_plan_asks_the_peer_what_it_lacks(moved: Moved) -> None:
    from hameau import export
    from hameau.moving import service
    from tests.test_environment import write

    content = b"a photo of the sea" * 1000
    node = opened(moved.homes["A"].data_dir)
    try:
        node.assembled["environment"] = lambda: export
        with transaction(node.sessions) as session:
            write(node, session, members.find_member(session, "sam"), ["sea.jpg"], content)
        assert service.plan(node, "sam", "B", ask_peer=True).missing_bytes == len(content)
        there = opened(moved.homes["B"].data_dir)
        there.blobs.put(content)
        there.close()
        plan = service.plan(node, "sam", "B", ask_peer=True)
        assert plan.missing_bytes == 0 and plan.total_bytes >= len(content)
    finally:
        node.close()

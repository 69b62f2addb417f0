"""The login limits kept in the database (several processes serving one node on PostgreSQL):
the same answers as in memory, counted by two limiters as if they were one, bounded."""

from __future__ import annotations

from sqlalchemy import func, select

from hameau.accounts.models import LoginFailure
from hameau.accounts.ratelimit import SharedLoginLimiter
from hameau.node.datadir import Node
from tests.accounts.test_ratelimit import Clock
from tests.helpers import add_member


def test_failures_on_two_processes_lock_the_account_as_on_one(any_node: Node) -> None:
    clock = Clock()
    one, other = (SharedLoginLimiter(any_node.sessions, 3, 100, 60, clock) for _ in range(2))
    for limiter in (one, other, one):  # each process sees one or two of the three
        assert limiter.retry_after("alex", "a") == 0
        limiter.failed("alex", "a")
        clock.now += 1
    assert other.retry_after("alex", "b") == 57  # the first failure leaves at 1060
    assert one.retry_after("alex", "b") == 57
    clock.now += 57
    assert other.retry_after("alex", "b") == 0


def test_success_clears_the_account_but_not_the_address(any_node: Node) -> None:
    limiter = SharedLoginLimiter(any_node.sessions, 2, 3, 60, Clock())
    for name in ("x", "y"):
        limiter.failed(name, "addr")
    limiter.succeeded("x")
    assert limiter.retry_after("x", "other") == 0
    limiter.failed("z", "addr")
    assert limiter.retry_after("anyone", "addr") > 0


def test_the_table_stays_bounded_and_keeps_members_failures(any_node: Node) -> None:
    add_member(any_node, "alex")
    limiter = SharedLoginLimiter(any_node.sessions, 2, 10**9, 60, Clock(), max_keys=50)
    limiter.failed("alex", "a")
    limiter.failed("alex", "a")
    for number in range(120):  # a spray of names, in small
        limiter.failed(f"user{number}", "a")
    with any_node.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LoginFailure)) <= 50
    assert limiter.retry_after("alex", "b") > 0  # a member's failures are never forgotten early

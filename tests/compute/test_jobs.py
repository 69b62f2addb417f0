"""The rules of compute jobs (matching, adaptive replication, verification, pay) and the I/O
around them: receipts signed by a node's real key, submission into a real node, and
settlement on the real embedded ledger."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hameau.compute import jobs, matching, receipts, settle, verify
from hameau.compute.errors import JobRefused, NotVerified, ReceiptRefused
from hameau.compute.matching import Answer, Ask, Record
from hameau.compute.verify import Result
from hameau.ledger import service
from hameau.ledger.escrow import backend
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, make_node

MiB = 1 << 20


def _answer(name: str, price: int, accepts: bool = True, memory: int = 512 * MiB) -> Answer:
    return Answer(
        name, name, accepts, "" if accepts else "its owner is using it", price, memory, 10**10
    )


def test_matching_is_two_sided_cheapest_first_then_best_record() -> None:
    ask = Ask(memory_bytes=256 * MiB, fuel=10**7, price_max=50, budget_left=1000)
    answers = [
        _answer("busy", 1, accepts=False),  # the provider's side refuses
        _answer("small", 2, memory=64 * MiB),  # the job's side: not enough memory
        _answer("dear", 60),  # above the price cap
        _answer("b", 10),
        _answer("c", 10),
        _answer("d", 20),
    ]
    records = {"c": Record(agreed=5, streak=5), "b": Record(disagreed=1)}
    chosen = matching.choose(ask, answers, records, excluded=set(), count=2)
    assert [a.provider for a in chosen] == ["c", "b"]  # same price: the better record first
    assert [a.provider for a in matching.choose(ask, answers, records, {"c"}, 2)] == ["b", "d"]
    assert matching.why_not(ask, answers[0]) == "its owner is using it"
    poor = Ask(256 * MiB, 10**7, 50, budget_left=150)  # one run at 10 costs 100 cents
    assert [a.provider for a in matching.choose(poor, answers, records, set(), 2)] == ["c"]


def test_replication_adapts_to_a_providers_record() -> None:
    record = Record()
    assert matching.replicas(2, 50, record, job_number=1) == 2
    for _ in range(matching.TRUST_STREAK):
        record = matching.recorded(record, "agreed")
    assert matching.replicas(2, 50, record, job_number=1) == 1  # trusted, low value: alone
    assert matching.replicas(2, 500, record, job_number=1) == 2  # worth more: replicated
    assert matching.replicas(2, 50, record, job_number=matching.SPOT_CHECK) == 2  # spot check
    failed = matching.recorded(record, "failed")
    assert matching.trusted(failed)  # a crash is not a dispute
    disputed = matching.recorded(record, "disagreed")
    assert disputed.streak == 0 and matching.replicas(2, 50, disputed, job_number=1) == 2


def test_verification_majority_third_provider_and_pay() -> None:
    ok = lambda run, h, fuel=100: Result(run, "done", "ok", h, fuel, 10, 50)  # noqa: E731
    assert verify.decide([ok("a", "x"), Result("b", "running")], 2).verdict == "wait"
    same = verify.decide([ok("a", "x"), ok("b", "x")], 2)
    assert (
        same.verdict == "agreed" and set(same.agreed) == {"a", "b"} and same.result == ("ok", "x")
    )
    mismatch = verify.decide([ok("a", "x"), ok("b", "y")], 2)
    assert mismatch.verdict == "more" and mismatch.wanted == 1  # a third provider
    third = verify.decide([ok("a", "x"), ok("b", "y"), ok("c", "x")], 2)
    assert third.verdict == "agreed" and third.disagreed == ("b",)
    assert verify.decide([ok("a", "x"), ok("b", "y"), ok("c", "z")], 2).verdict == "failed"
    lost = verify.decide([ok("a", "x"), Result("b", "failed")], 2)
    assert lost.verdict == "more" and lost.wanted == 1  # the killed one is replaced
    assert verify.decide([], 2) == verify.Decision("more", wanted=2)
    replaced = verify.decide([Result("a", "running"), Result("b", "failed")], 2)
    assert replaced == verify.Decision("more", wanted=1)  # without waiting for the other
    third_running = [ok("a", "x"), ok("b", "y"), Result("c", "running")]
    assert verify.decide(third_running, 2).verdict == "wait"
    fuel = verify.decide([Result("a", "done", "fuel", "", 9, 10, 50)] * 2, 2)
    assert fuel.result == ("fuel", "")  # agreeing on a failure is agreeing too
    assert verify.payout(ok("a", "x", fuel=3_000_000), True) == 30
    assert verify.payout(ok("a", "x", fuel=10**9), True) == 50  # never above its escrow
    assert verify.payout(ok("a", "x"), False) == 0
    # An agreed failure is paid its fuel; a module refused before it ran, or a free provider,
    # nothing.
    burnt = Result("a", "done", "fuel", "", 3_000_000, 10, 50)
    assert verify.payout(burnt, True) == 30
    assert verify.payout(Result("a", "done", "malformed", "", 0, 10, 50), True) == 0
    assert verify.payout(Result("a", "done", "memory", "", 0, 10, 50), True) == 0
    assert verify.payout(Result("a", "done", "ok", "x", 3_000_000, 0, 1), True) == 0


def test_a_receipt_verifies_only_with_the_providers_key_for_its_run(tmp_path: Path) -> None:
    provider, other = make_node(tmp_path / "p"), make_node(tmp_path / "o")
    try:
        given = receipts.Receipt("j" * 32, "r" * 32, provider.identity.node_id, "m" * 64,
                                 "i" * 64, "ok", "o" * 64, 1234)  # fmt: skip
        text, signature = receipts.sign(given, provider.identity.sign)
        key = provider.identity.private_key.public_key()
        expected = {"job": "j" * 32, "run": "r" * 32, "provider": provider.identity.node_id}
        assert receipts.check(text, signature, key, expected) == given
        _, forged = receipts.sign(given, other.identity.sign)  # signed with another key
        with pytest.raises(ReceiptRefused):
            receipts.check(text, forged, key, expected)
        with pytest.raises(ReceiptRefused):  # replayed for another run
            receipts.check(text, signature, key, {**expected, "run": "s" * 32})
        with pytest.raises(ReceiptRefused):  # its output hash changed after signing
            receipts.check(text.replace("o" * 64, "p" * 64), signature, key, expected)
        nested = "[" * 100_000 + "]" * 100_000  # signed, but nested past Python's stack
        signed = base64.b64encode(provider.identity.sign(receipts.PREFIX + nested.encode()))
        with pytest.raises(ReceiptRefused):
            receipts.check(nested, signed.decode(), key, expected)
    finally:
        provider.close()
        other.close()


@pytest.fixture
def node(tmp_path: Path) -> Node:
    made = make_node(tmp_path / "node")
    add_member(made, "alice")
    yield made
    made.close()


def _credit(node: Node, name: str, cents: int) -> str:
    with transaction(node.sessions) as session:
        account = service.recipient(node, session, name)
        service.issue(node, session, account, cents)
        return account.id


def _balance(node: Node, account: str) -> int:
    return backend(node).balance(account)


def test_settlement_pays_agreeing_runs_refunds_the_rest_once(node: Node) -> None:
    alice = _credit(node, "alice", 1000)
    with transaction(node.sessions) as session:
        good = service.named_account(node, session, "provider-b").id
        bad = service.named_account(node, session, "provider-c").id
    deadline = datetime.now(UTC) + timedelta(hours=1)
    first = settle.open_for_run(node, alice, good, 50, deadline)
    second = settle.open_for_run(node, alice, bad, 50, deadline)
    assert _balance(node, alice) == 900  # both runs' escrows locked
    assert settle.pay(node, first, good, 30) == 30
    assert settle.pay(node, second, bad, 0) == 0
    assert (_balance(node, alice), _balance(node, good), _balance(node, bad)) == (970, 30, 0)
    assert settle.pay(node, first, good, 30) == 30  # delivered twice: nothing more
    assert (_balance(node, alice), _balance(node, good)) == (970, 30)


def _module(tmp_path: Path, data: bytes = b"\0asm\x01\0\0\0") -> Path:
    path = tmp_path / "job.wasm"
    path.write_bytes(data)
    return path


def test_submission_stores_content_and_refuses_bad_jobs(node: Node, tmp_path: Path) -> None:
    _credit(node, "alice", 500)
    data = tmp_path / "data.txt"
    data.write_text("hello")
    later = datetime.now(UTC) + timedelta(hours=1)
    options = {"memory": 64 * MiB, "fuel": 10**7, "deadline": later, "budget_cents": 300}
    with transaction(node.sessions) as session:
        from hameau.accounts.members import find_member

        alice = find_member(session, "alice")
        with pytest.raises(JobRefused, match="not a WebAssembly module"):
            jobs.submit(node, session, alice, _module(tmp_path, b"MZ"), [], [], **options)
        with pytest.raises(JobRefused, match="Not enough credit"):
            jobs.submit(
                node, session, alice, _module(tmp_path), [], [], **{**options, "budget_cents": 900}
            )
        with pytest.raises(JobRefused, match="distinct plain names"):
            jobs.submit(node, session, alice, _module(tmp_path), [("../x", data)], [], **options)
        for past in ({"seed": 2**64}, {"seed": -1}, {"price_max": 2**64}):  # the database's range
            with pytest.raises(JobRefused, match="between 0 and"):
                jobs.submit(node, session, alice, _module(tmp_path), [], [], **options, **past)
        job = jobs.submit(
            node, session, alice, _module(tmp_path), [("data.txt", data)], ["-n", "3"], **options
        )
        assert job.state == "matching" and job.price_max == 300 * 10**6 // (3 * 10**7)
        stored = jobs.inputs_of(session, job)
        assert jobs.store(node).read(stored[0]["digest"]) == b"hello"
        assert job.input_hash == receipts.input_hash(["-n", "3"], stored, job.seed)
        with pytest.raises(NotVerified):
            jobs.write_outputs(node, job, tmp_path / "out")


def test_the_pages_submit_a_job_and_list_it(node: Node, tmp_path: Path) -> None:
    from tests.helpers import browser, csrf, log_in

    _credit(node, "alice", 500)
    client = browser(node)
    log_in(client, "alice")
    page = client.get("/compute")
    assert page.status_code == 200 and 'name="module"' in page.text
    token = csrf(page.text)
    fields = {"memory": "64M", "fuel": "10M", "deadline": "2h", "budget": "3", "redundancy": "2",
              "args": "7 1000"}  # fmt: skip
    sent = client.post(
        f"/compute/jobs?csrf_token={token}", data=fields,
        files=[("module", ("pi.wasm", b"\0asm\x01\0\0\0")), ("inputs", ("a.txt", b"hello"))],
    )  # fmt: skip
    assert sent.status_code == 303, sent.text
    listed = client.get("/compute").text
    assert "pi.wasm" in listed
    refused = client.post(
        f"/compute/jobs?csrf_token={token}", data={**fields, "budget": "900"},
        files=[("module", ("pi.wasm", b"\0asm\x01\0\0\0"))],
    )  # fmt: skip
    assert refused.status_code == 400
    assert client.get("/compute/ran").status_code == 200
    with transaction(node.sessions) as session:
        from hameau.accounts.members import find_member

        job = jobs.member_jobs(session, find_member(session, "alice"))[0]
        assert job.args == ["7", "1000"] and jobs.inputs_of(session, job)[0]["name"] == "a.txt"
    assert client.get(f"/compute/jobs/{job.id}/outputs/{'0' * 64}").status_code == 404


def test_a_job_past_its_deadline_fails_and_then_stays_as_it_is(node: Node, tmp_path: Path) -> None:
    from hameau.accounts.members import find_member
    from hameau.compute import driver
    from hameau.compute.models import ComputeJob

    _credit(node, "alice", 500)
    later = datetime.now(UTC) + timedelta(hours=1)
    with transaction(node.sessions) as session:
        alice = find_member(session, "alice")
        job = jobs.submit(node, session, alice, _module(tmp_path), [], [], memory=64 * MiB,
                          fuel=10**7, deadline=later, budget_cents=300)  # fmt: skip
        job_id = job.id
    assert driver.active(node) == [job_id]
    with transaction(node.sessions) as session:
        found = session.get(ComputeJob, job_id)
        assert found is not None
        found.deadline_at = datetime.now(UTC) - timedelta(seconds=1)
    assert driver.advance_all(node) is False
    with node.sessions() as session:
        found = session.get(ComputeJob, job_id)
        assert found is not None and found.state == "failed"
        assert found.reason.startswith("The deadline passed") and found.cost_cents == 0
    driver.advance(node, job_id)  # an ended job is left as it is
    assert driver.active(node) == []

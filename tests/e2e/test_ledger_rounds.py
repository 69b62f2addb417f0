"""Three notaries proposing at once (rounds, notarise.py): members at A, B and C pay at the
same moment, many times; every payment is final exactly once and the three replicas end the
same. The same with a notary SIGKILLed mid-way. A notary proposing a second position at one
number and round (equivocation) is refused. One hamlet for the module (the kill comes last)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from hameau.node.layout import Layout
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.test_ledger_notaries import MEMBER, PAIRS, _db, _notaries, _same_everywhere
from tests.e2e.test_ledger_replicas import _ok

PAYING = """
import sys, threading
from hameau.config import load_settings
from hameau.ledger import nudges, service
from hameau.node.datadir import open_node
from hameau.node.db import transaction

node = open_node(load_settings(sys.argv[1]))
payer, to, tag, count = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
start, said = threading.Barrier(count), []

def pay(i):
    start.wait()
    try:
        with transaction(node.sessions) as s:
            source, target = service.find_account(s, payer), service.find_account(s, to)
            service.transfer(node, s, source, target, 1, f"{tag}-{i}")
        said.append(f"ok {tag}-{i}")
    except Exception as error:
        said.append(f"failed {tag}-{i} {type(error).__name__}: {error}")

threads = [threading.Thread(target=pay, args=(i,)) for i in range(count)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
nudges.send(node)  # as the command does once committed: the other homes pull
print("\\n".join(said), flush=True)
"""
COUNT = 10
NEXT = {"A": "B", "B": "C", "C": "A"}


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Home]]:
    with hamlet(tmp_path_factory.mktemp("rounds"), names=("A", "B", "C"), pairs=PAIRS) as found:
        _notaries(found)
        yield found


def _paying(homes: dict[str, Home], tag: str) -> dict[str, subprocess.Popen[str]]:
    """At each home, COUNT threads of one process pay a cent at the same moment."""
    return {
        name: subprocess.Popen(
            [
                sys.executable,
                "-c",
                PAYING,
                str(home.data_dir),
                MEMBER[name],
                MEMBER[NEXT[name]],
                f"{tag}{name}",
                str(COUNT),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, home in homes.items()
    }


def _converged(homes: dict[str, Home]) -> None:
    """Each home pulls once from the first notary that answers, which may be behind another:
    once more, then every replica holds the same verified ledger."""
    for home in homes.values():
        _ok(home, "sync")
    _same_everywhere(homes)


def _memos(home: Home, tag: str) -> list[str]:
    rows = _db(home, "SELECT entry FROM ledger_entries WHERE kind = 'transfer'")
    memos = [json.loads(entry)["body"].get("memo", "") for (entry,) in rows]
    return [memo for memo in memos if memo.startswith(tag)]


def test_payments_at_three_notaries_at_once_are_each_final_exactly_once(
    homes: dict[str, Home],
) -> None:
    said = {name: p.communicate(timeout=240) for name, p in _paying(homes, "once").items()}
    for out, err in said.values():
        assert out.count("ok ") == COUNT, out + err
    _converged(homes)
    for home in homes.values():
        memos = _memos(home, "once")
        assert len(memos) == 3 * COUNT and len(set(memos)) == 3 * COUNT, sorted(memos)


def test_a_second_position_proposed_in_one_round_is_refused(homes: dict[str, Home]) -> None:
    """C, as the proposer of one of its rounds, gets A to sign a payment of cam's at the next
    number, then proposes another one there in the same round: A refuses it and keeps the
    proof; the ledger goes on, with the second never final."""
    from hameau.config import load_settings
    from hameau.hamlet import client
    from hameau.hamlet import service as hamlet_service
    from hameau.ledger import crypto, finality, journal, service
    from hameau.node.datadir import open_node
    from hameau.node.peer import PeerFailed

    _same_everywhere(homes)
    node = open_node(load_settings(homes["C"].data_dir))
    try:
        with node.sessions() as db:
            found = journal.head(db)
            notaries = json.loads(found.notaries)
            cam = service.find_account(db, "cam")
            to = {memo: service.find_account(db, name).id for memo, name in
                  (("rogue-x", "bea"), ("rogue-y", "alex"))}  # fmt: skip
            round = finality.succession(notaries).index(node.identity.node_id) + 3
            positions = []
            for memo, account in to.items():
                text, signature = journal.signed_entry(
                    node, db, cam.id, "transfer", {"to": account, "cents": 1, "memo": memo}
                )
                seq = found.seq + 1
                entry_hash = crypto.position_hash(seq, found.entry_hash, text, signature)
                message = crypto.proposal_message(seq, round, entry_hash)
                positions.append({
                    "seq": seq, "entry": text.decode(), "signature": signature,
                    "prev_hash": found.entry_hash, "entry_hash": entry_hash, "round": round,
                    "proposal": crypto.b64(node.identity.sign(message)),
                })  # fmt: skip
            peer = hamlet_service.find(db, "A")
            db.expunge(peer)
        with client.to_peer(node, peer, always=True) as toward:
            first = toward.call("POST", "/api/hamlet/ledger/cosign", json=positions[0])
        assert first["round"] == round and first["signature"]
        with client.to_peer(node, peer, always=True) as toward, pytest.raises(PeerFailed) as no:
            toward.call("POST", "/api/hamlet/ledger/cosign", json=positions[1])
        assert no.value.code == 409
    finally:
        node.close()
    proof = Layout(homes["A"].data_dir).root / "ledger-votes" / "equivocations.jsonl"
    line = json.loads(proof.read_text().splitlines()[-1])
    assert line["proposer"] == homes["C"].node_id and line["round"] == round
    # The ledger goes on: the next payment is final, after what a majority may have signed.
    _ok(homes["B"], "transfer", "bea", "alex", "0,05", "--memo", "after")
    _converged(homes)
    for home in homes.values():
        assert _memos(home, "after") == ["after"]
        assert _memos(home, "rogue-y") == []
        assert len(_memos(home, "rogue-x")) <= 1


def test_a_notary_killed_while_all_pay_the_others_go_on_nothing_final_twice(
    homes: dict[str, Home],
) -> None:
    killed = homes["A"]
    paying = _paying(homes, "kill")
    time.sleep(2)  # some payments under way; no timing is asserted on
    for process in (paying["A"], killed.served.process):
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)
    for name in ("B", "C"):  # the other two go on
        out, err = paying[name].communicate(timeout=240)
        assert out.count("ok ") == COUNT, out + err
    killed.restart()
    _converged(homes)  # it caught up; every replica verifies; no fork
    for home in homes.values():
        memos = _memos(home, "kill")
        assert len(memos) == len(set(memos)), sorted(memos)  # nothing final twice
        assert {m for m in memos if not m.startswith("killA")} == {
            f"kill{name}-{i}" for name in ("B", "C") for i in range(COUNT)
        }

"""Three notaries, three homes served as processes (A, B, C, all paired): the cooperative at A
names the three notaries; a position is final once two of them signed it. The first notary
that answers sequences (the one with the lowest node id, "the leader"); SIGKILLed mid-append,
the others go on and nothing final is lost; paused (SIGSTOP) for a while, the others go on and
it catches up without a fork, and a home without a notary passes over it; cut off from the
others (a partition: each side finds the other's address refusing), the majority and that
home go on, the cut-off notary cannot make anything final alone, and once healed every home
holds the same ledger; a position made final by a forged co-signature is refused.

The tests that leave the hamlet whole share one: A, B and C notaries and D, a home without a
notary, paired with all three; a paired peer that does not answer is passed over after 5 s
(the `hamlet_peer_timeout_seconds` setting; 10 s by default) instead of 10."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hameau.node.layout import Layout
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.served import free_port
from tests.e2e.test_ledger_replicas import _members, _ok, _refused

PAIRS = (("B", "A"), ("C", "A"), ("C", "B"))
MEMBER = {"A": "alex", "B": "bea", "C": "cam"}
WITH_D = (*PAIRS, ("D", "A"), ("D", "B"), ("D", "C"))
QUICK = "hamlet_peer_timeout_seconds = 5"  # a paused peer is passed over after 5 s, not 10


def _db(home: Home, query: str, *params: object) -> list[tuple]:
    with sqlite3.connect(Layout(home.data_dir).database) as db:
        return db.execute(query, params).fetchall()


def _notaries(homes: dict[str, Home]) -> list[str]:
    """A opens the ledger, issues to alex, bea and cam, then names A, B and C its notaries;
    returns the homes' names in the order of succession."""
    _members(homes)
    _ok(homes["A"], "issue", "alex", "20")
    for name in ("B", "C"):
        _ok(homes[name], "sync")
        _ok(homes[name], "balance", MEMBER[name])  # opens the account, through A
        _ok(homes["A"], "issue", MEMBER[name], "10")
    said = _ok(homes["A"], "notaries", "A", "B", "C")
    assert "final with 2 of 3 signatures" in said
    for name in homes:
        if name != "A":
            _ok(homes[name], "sync")
    return sorted(("A", "B", "C"), key=lambda name: homes[name].node_id)


def _same_everywhere(homes: dict[str, Home]) -> tuple[int, str]:
    """Every home pulls, verifies, and holds the same ledger (same last position and hash)."""
    heads = set()
    for home in homes.values():
        _ok(home, "sync")
    for home in homes.values():
        assert "sound" in _ok(home, "verify")
        heads.add(_db(home, "SELECT seq, entry_hash FROM ledger_head")[0])
    assert len(heads) == 1, heads
    return heads.pop()


def _signers(home: Home, after: int) -> list[int]:
    rows = _db(
        home, "SELECT seq, count(*) FROM ledger_signatures WHERE seq > ? GROUP BY seq", after
    )
    return [count for _, count in rows]


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Home]]:
    """A, B, C notaries; D paired with the three, without a notary, its member dan paid 5 €."""
    root, quick = tmp_path_factory.mktemp("notaries"), dict.fromkeys("ABCD", QUICK)
    with hamlet(root, names=("A", "B", "C", "D"), pairs=WITH_D, settings=quick) as homes:
        _notaries(homes)
        assert homes["D"].run("member", "add", "dan").returncode == 0
        _ok(homes["D"], "sync")
        _ok(homes["D"], "balance", "dan")  # opens dan's account through a notary
        _ok(homes["A"], "issue", "dan", "5")
        yield homes


def _balance(home: Home, label: str) -> int:
    return _db(home, "SELECT balance FROM ledger_accounts WHERE label = ?", label)[0][0]


def test_payments_are_final_with_two_of_three_signatures(four: dict[str, Home]) -> None:
    homes = four
    before, _ = _same_everywhere(homes)
    bea = _balance(homes["A"], "bea")
    _ok(homes["B"], "transfer", "bea", "alex", "2,50", "--memo", "eggs")
    _ok(homes["C"], "transfer", "cam", "bea", "1")
    _ok(homes["A"], "transfer", "alex", "cam", "0,50")
    seq, _ = _same_everywhere(homes)
    assert seq == before + 3
    for home in homes.values():  # each new position: two or three notaries
        assert all(count >= 2 for count in _signers(home, before)), _signers(home, before)
        assert len(_signers(home, before)) == 3
    history = _ok(homes["C"], "history", "bea")
    assert "eggs" in history and "pending" not in history
    assert all(" final " in line for line in history.splitlines())
    assert all(_balance(home, "bea") == bea - 150 for home in homes.values())


def _paying(home: Home, payer: str, to: str, count: int) -> list[subprocess.Popen[str]]:
    command = [sys.executable, "-m", "hameau", "ledger", "transfer", payer, to, "0,10"]
    return [
        subprocess.Popen(
            [*command, "--data-dir", str(home.data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def test_a_notary_killed_mid_append_the_others_go_on_and_nothing_final_is_lost(
    tmp_path: Path,
) -> None:
    with hamlet(tmp_path, names=("A", "B", "C"), pairs=PAIRS) as homes:
        order = _notaries(homes)
        killed, other, third = (homes[name] for name in order)
        _ok(killed, "transfer", MEMBER[killed.name], MEMBER[third.name], "0,20")
        final_before = _same_everywhere(homes)
        # The killed home's member pays; the home (its server and the commands proposing the
        # payments to the other notaries) is SIGKILLed while they run.
        paying = _paying(killed, MEMBER[killed.name], MEMBER[third.name], 3)
        time.sleep(1.5)  # let some reach the co-signers; no timing is asserted on
        for process in [*paying, killed.served.process]:
            process.send_signal(signal.SIGKILL)
        for process in [*paying, killed.served.process]:
            process.wait(timeout=15)
        # The others go on: one proposes (taking up first what the killed one left voted),
        # the third co-signs.
        said = _ok(other, "transfer", MEMBER[other.name], MEMBER[third.name], "1")
        assert "Paid 1,00" in said
        _ok(third, "transfer", MEMBER[third.name], MEMBER[other.name], "0,30")
        assert "sound" in _ok(killed, "verify")  # nothing half-written at the killed home
        killed.restart()
        seq, _ = _same_everywhere(homes)  # it caught up; its replica verifies; no fork
        assert seq >= final_before[0] + 2
        # What was final before the kill is still there, at the same place, everywhere.
        for home in homes.values():
            at = _db(home, "SELECT entry_hash FROM ledger_entries WHERE seq = ?", final_before[0])
            assert at == [(final_before[1],)]
        history = _ok(third, "history", MEMBER[other.name])
        assert "1,00" in history and "pending" not in history
        # The killed home proposes again.
        _ok(killed, "transfer", MEMBER[killed.name], MEMBER[other.name], "0,40")
        again, _ = _same_everywhere(homes)
        assert again == seq + 1


def test_a_paused_notary_catches_up_without_a_fork(four: dict[str, Home]) -> None:
    """D, a home without a notary, pays too: it passes over the paused first notary."""
    homes = four
    order = sorted(("A", "B", "C"), key=lambda name: homes[name].node_id)
    paused, payer = homes[order[0]], homes[order[1]]
    dan = _balance(homes["A"], "dan")
    paused.served.process.send_signal(signal.SIGSTOP)  # unreachable: it answers nothing
    try:
        for amount in ("1", "0,50"):
            _ok(payer, "transfer", MEMBER[payer.name], MEMBER[order[2]], amount)
        said = _ok(homes["D"], "transfer", "dan", MEMBER[payer.name], "2")
        assert "Paid 2,00" in said
    finally:
        paused.served.process.send_signal(signal.SIGCONT)
    _ok(paused, "sync", order[1])
    seq, entry_hash = _same_everywhere(homes)
    assert _balance(homes["D"], "dan") == dan - 200
    # The paused notary proposes again, after the positions made without it.
    _ok(paused, "transfer", MEMBER[paused.name], MEMBER[payer.name], "0,25")
    again, _ = _same_everywhere(homes)
    assert again == seq + 1
    assert _db(paused, "SELECT entry_hash FROM ledger_entries WHERE seq = ?", seq) == [
        (entry_hash,)
    ]


def _cut(homes: dict[str, Home], away: Home) -> dict[str, list[tuple]]:
    """A partition: `away` finds every peer's address refusing, and every other home finds
    away's so; their servers go on running. Returns the addresses, for `_heal`."""
    saved, dead = {}, f"https://127.0.0.1:{free_port()}"  # nothing listens there
    for name, home in homes.items():
        saved[name] = _db(home, "SELECT node_id, address FROM hamlet_peers")
        with sqlite3.connect(Layout(home.data_dir).database) as db:
            if home is away:
                db.execute("UPDATE hamlet_peers SET address = ?", (dead,))
            else:
                db.execute("UPDATE hamlet_peers SET address = ? WHERE node_id = ?",
                           (dead, away.node_id))  # fmt: skip
    return saved


def _heal(homes: dict[str, Home], saved: dict[str, list[tuple]]) -> None:
    """The addresses back; each side's wait before trying the other again (30 s after a
    failure) taken as over, as it is once that time has passed."""
    for name, home in homes.items():
        with sqlite3.connect(Layout(home.data_dir).database) as db:
            for node_id, address in saved[name]:
                db.execute(
                    "UPDATE hamlet_peers SET address = ?, failures = 0, next_try_at = NULL"
                    " WHERE node_id = ?", (address, node_id),
                )  # fmt: skip


def _memos(home: Home) -> list[str]:
    rows = _db(home, "SELECT entry FROM ledger_entries WHERE kind = 'transfer'")
    return [json.loads(entry)["body"].get("memo", "") for (entry,) in rows]


def test_a_partition_heals_without_a_fork(four: dict[str, Home]) -> None:
    """The notary leading now (the second in succession, since the pause) is cut off from the
    three other homes, both ways, its server running: its member's payment is refused (one
    signature of three), nothing of it is written anywhere; the two other notaries and D go
    on. Healed, the cut-off notary pulls what the majority made final, verifies it, and
    pays again: one ledger, no fork."""
    homes = four
    order = sorted(("A", "B", "C"), key=lambda name: homes[name].node_id)
    away, first, third = homes[order[1]], homes[order[0]], homes[order[2]]
    before, before_hash = _same_everywhere(homes)
    saved = _cut(homes, away)
    try:
        said = _refused(away, "transfer", MEMBER[away.name], MEMBER[first.name], "0,15",
                        "--memo", "cut-off")  # fmt: skip
        assert "majority" in said or "reach" in said, said
        _ok(first, "transfer", MEMBER[first.name], MEMBER[third.name], "0,35", "--memo", "m1")
        _ok(homes["D"], "transfer", "dan", MEMBER[third.name], "0,45", "--memo", "m2")
        _ok(third, "transfer", MEMBER[third.name], "dan", "0,05", "--memo", "m3")
        assert "sound" in _ok(away, "verify")  # behind, not broken
        assert _db(away, "SELECT max(seq) FROM ledger_entries")[0][0] == before
    finally:
        _heal(homes, saved)
    seq, _ = _same_everywhere(homes)  # it pulled the majority's positions: one ledger
    assert seq == before + 3
    for home in homes.values():
        memos = _memos(home)
        assert "cut-off" not in memos and {"m1", "m2", "m3"} <= set(memos)
        at = _db(home, "SELECT entry_hash FROM ledger_entries WHERE seq = ?", before)
        assert at == [(before_hash,)]
    assert "pending" not in _ok(away, "history", MEMBER[away.name])
    # The healed notary pays again: final after the majority's positions.
    _ok(away, "transfer", MEMBER[away.name], MEMBER[first.name], "0,15", "--memo", "healed")
    again, _ = _same_everywhere(homes)
    assert again == seq + 1
    assert all(_memos(home).count("healed") == 1 for home in homes.values())


def test_a_position_made_final_by_a_forged_cosignature_is_refused(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A", "B", "C"), pairs=PAIRS) as homes:
        _notaries(homes)
        homes["C"].served.process.terminate()  # C away: A and B make positions final alone
        homes["C"].served.process.wait(timeout=15)
        _ok(homes["B"], "transfer", "bea", "alex", "1")
        last = _db(homes["A"], "SELECT max(seq) FROM ledger_entries")[0][0]
        cosigners = _db(homes["A"], "SELECT notary FROM ledger_signatures WHERE seq = ?", last)
        assert len(cosigners) == 2
        # At A, B's co-signature of the last position replaced by another (A's of the one before).
        with sqlite3.connect(Layout(homes["A"].data_dir).database) as db:
            db.execute(
                "UPDATE ledger_signatures SET signature = (SELECT signature FROM ledger_signatures"
                " WHERE seq = ? AND notary = ?) WHERE seq = ? AND notary = ?",
                (last - 1, homes["A"].node_id, last, homes["B"].node_id),
            )
        assert "forged" in _refused(homes["A"], "verify")
        homes["C"].restart()
        said = _refused(homes["C"], "sync", "A")
        assert "does not verify" in said and f"position {last}" in said and "majority" in said
        _ok(homes["C"], "sync", "B")
        assert "sound" in _ok(homes["C"], "verify")


ESCROW = """
import sys, time
from hameau.config import load_settings
from hameau.ledger.escrow import Conditions, backend
from hameau.node.datadir import open_node

node = open_node(load_settings(sys.argv[1]))
escrow = backend(node)
payer, payee = escrow.account("payer"), escrow.account("payee")
escrow.issue(payer, 500)
opened = escrow.open_escrow(payer, 300, Conditions((payee,), payer, int(time.time()) + 3600))
receipt = escrow.sign_receipt(opened, {payee: 200}, payer)
first, again = escrow.release(receipt), escrow.release(receipt)
print(first.state, first == again, escrow.balance(payer), escrow.balance(payee))
"""


def test_an_escrow_opens_and_settles_once_on_a_ledger_with_three_notaries(
    four: dict[str, Home],
) -> None:
    """The escrow interface (what lent compute pays through) goes through the notaries too:
    each of its entries is co-signed and final; the same release twice pays once. At A, which
    keeps the cooperative's key (the issuance)."""
    homes = four
    before, _ = _same_everywhere(homes)
    done = subprocess.run(
        [sys.executable, "-c", ESCROW, str(homes["A"].data_dir)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["released", "True", "300", "200"], done.stdout
    _same_everywhere(homes)
    for home in homes.values():  # every new position: two or three notaries
        assert _signers(home, before) and all(count >= 2 for count in _signers(home, before))


def test_forged_and_replayed_entries_sent_to_the_notaries_are_refused(
    four: dict[str, Home],
) -> None:
    """From D (a home without a notary), over the signed channel as D's server sends them, to
    the proposer of the current round: dan's last payment sent again (answered with the
    position it has: nothing twice), a new payment signed at a nonce dan already used (a
    replay), and a payment changed after dan signed it (forged). The last two are refused
    with their reason; no home's ledger moves."""
    from hameau.config import load_settings
    from hameau.hamlet import client
    from hameau.hamlet import service as hamlet_service
    from hameau.ledger import crypto, finality, journal, notarise, rules, service
    from hameau.node.datadir import open_node
    from hameau.node.peer import PeerFailed

    homes = four
    _ok(homes["D"], "transfer", "dan", "alex", "0,01", "--memo", "original")
    head = _same_everywhere(homes)
    node = open_node(load_settings(homes["D"].data_dir))
    try:
        with node.sessions() as db:
            found = journal.head(db)
            assert found is not None
            dan, alex = service.find_account(db, "dan"), service.find_account(db, "alex")
            (original,) = _db(homes["D"], "SELECT seq, entry, signature FROM ledger_entries"
                              " WHERE author = ? AND nonce = ?", dan.id, dan.nonce)  # fmt: skip
            sign = journal.signer(node, db, dan.id)

            def signed(nonce: int, memo: str) -> tuple[str, str]:
                body = {"to": alex.id, "cents": 1, "memo": memo}
                text = rules.Entry("transfer", dan.id, nonce, int(time.time()), body).canonical()
                return text.decode(), crypto.b64(sign(crypto.ENTRY_PREFIX + text))

            replayed = signed(dan.nonce, "replayed")  # a nonce dan used already
            text, signature = signed(dan.nonce + 1, "forged")
            forged = (text.replace('"cents":1,', '"cents":100,'), signature)
            notaries, round = json.loads(found.notaries), notarise.round_of(node, db, found)
            peers = {peer.node_id: peer for peer in hamlet_service.peers(db)}
            for peer in peers.values():
                db.expunge(peer)

        def send(entry: str, signature: str) -> dict:
            at = round
            for _ in range(4):  # to the proposer of the round it says is current
                peer = peers[finality.proposer(notaries, at)]
                with client.to_peer(node, peer, always=True) as toward:
                    answer = toward.call("POST", "/api/hamlet/ledger/entries", json={
                        "entry": entry, "signature": signature, "round": at})  # fmt: skip
                if answer.get("seq") or int(answer.get("round") or at) == at:
                    return answer
                at = int(answer["round"])
            return answer

        assert send(original[1], original[2])["seq"] == original[0]  # the same: its position
        for (entry, signature), said in ((replayed, ("already", "déjà")), (forged, ("signature",))):
            with pytest.raises(PeerFailed) as refused:  # the sentence in the node's language
                send(entry, signature)
            assert refused.value.code == 400, refused.value
            assert any(word in str(refused.value) for word in said), refused.value
    finally:
        node.close()
    assert _same_everywhere(homes) == head
    assert all("forged" not in _memos(home) and "replayed" not in _memos(home)
               for home in homes.values())  # fmt: skip

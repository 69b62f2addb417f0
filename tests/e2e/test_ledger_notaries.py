"""Three notaries, three homes served as processes (A, B, C, all paired): the cooperative at A
names the three notaries; a position is final once two of them signed it. The first notary
that answers sequences (the one with the lowest node id, "the leader"); SIGKILLed mid-append,
the others go on and nothing final is lost; paused (SIGSTOP) for a while, the others go on and
it catches up without a fork, and a home without a notary passes over it; a position made
final by a forged co-signature is refused."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from hameau.node.layout import Layout
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.test_ledger_replicas import _members, _ok, _refused

PAIRS = (("B", "A"), ("C", "A"), ("C", "B"))
MEMBER = {"A": "alex", "B": "bea", "C": "cam"}


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


def test_payments_are_final_with_two_of_three_signatures(tmp_path: Path) -> None:
    with hamlet(tmp_path, names=("A", "B", "C"), pairs=PAIRS) as homes:
        _notaries(homes)
        named = _db(homes["A"], "SELECT max(seq) FROM ledger_entries WHERE kind = 'notaries'")[0][0]
        _ok(homes["B"], "transfer", "bea", "alex", "2,50", "--memo", "eggs")
        _ok(homes["C"], "transfer", "cam", "bea", "1")
        _ok(homes["A"], "transfer", "alex", "cam", "0,50")
        seq, _ = _same_everywhere(homes)
        assert seq == named + 3
        for home in homes.values():  # each position after the naming: two or three notaries
            assert all(count >= 2 for count in _signers(home, named)), _signers(home, named)
            assert len(_signers(home, named)) == 3
        history = _ok(homes["C"], "history", "bea")
        assert "eggs" in history and "pending" not in history
        assert all(" final " in line for line in history.splitlines())
        assert "8,50" in _ok(homes["A"], "balance", "bea")


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


def test_a_paused_notary_catches_up_without_a_fork(tmp_path: Path) -> None:
    """D, a home without a notary, pays too: it passes over the paused first notary."""
    pairs = (*PAIRS, ("D", "A"), ("D", "B"), ("D", "C"))
    with hamlet(tmp_path, names=("A", "B", "C", "D"), pairs=pairs) as homes:
        order = _notaries(homes)
        assert homes["D"].run("member", "add", "dan").returncode == 0
        _ok(homes["D"], "sync")
        _ok(homes["D"], "balance", "dan")  # opens dan's account through a notary
        _ok(homes["A"], "issue", "dan", "5")
        paused, payer = homes[order[0]], homes[order[1]]
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
        assert "3,00" in _ok(homes["D"], "balance", "dan")
        # The paused notary proposes again, after the positions made without it.
        _ok(paused, "transfer", MEMBER[paused.name], MEMBER[payer.name], "0,25")
        again, _ = _same_everywhere(homes)
        assert again == seq + 1
        assert _db(paused, "SELECT entry_hash FROM ledger_entries WHERE seq = ?", seq) == [
            (entry_hash,)
        ]


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


def test_an_escrow_opens_and_settles_once_on_a_ledger_with_three_notaries(tmp_path: Path) -> None:
    """The escrow interface (what lent compute pays through) goes through the notaries too:
    each of its entries is co-signed and final; the same release twice pays once. At A, which
    keeps the cooperative's key (the issuance)."""
    with hamlet(tmp_path, names=("A", "B", "C"), pairs=PAIRS) as homes:
        _notaries(homes)
        named = _db(homes["A"], "SELECT max(seq) FROM ledger_entries WHERE kind = 'notaries'")[0][0]
        done = subprocess.run(
            [sys.executable, "-c", ESCROW, str(homes["A"].data_dir)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["released", "True", "300", "200"], done.stdout
        _same_everywhere(homes)
        for home in homes.values():  # every position after the naming: two or three notaries
            assert all(count >= 2 for count in _signers(home, named)), _signers(home, named)

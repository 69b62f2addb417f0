"""Real faults on the ledger: a process appending killed with SIGKILL mid-stream, and two
processes appending at once. Afterwards `hameau ledger verify` finds a sound ledger: no half
entry, no fork, every accepted payment counted once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.ledger.ledgers import hameau, small_ledger

# One process appending transfers of 1 cent, one transaction each, printing each position.
APPENDER = """
import sys
from hameau.config import load_settings
from hameau.ledger import service
from hameau.ledger.models import LedgerAccount
from hameau.node.datadir import open_node
from hameau.node.db import transaction
from hameau.errors import HameauError
from sqlalchemy.exc import OperationalError

node = open_node(load_settings(__import__("pathlib").Path(sys.argv[1])))
payer, payee, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
for _ in range(count):
    try:
        with transaction(node.sessions) as session:
            position = service.transfer(node, session, session.get(LedgerAccount, payer),
                                        session.get(LedgerAccount, payee), 1)
    except (HameauError, OperationalError) as refused:  # busy: another writer took the position
        print("refused", type(refused).__name__, flush=True)
        continue
    print("paid", position.seq, flush=True)
"""


def _appender(root: Path, payer: str, payee: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(root), payer, payee, str(count)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _sound(root: Path) -> str:
    done = hameau("ledger", "verify", "--data-dir", str(root))
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_appender_killed_mid_stream_leaves_a_sound_ledger(tmp_path: Path) -> None:
    node, accounts = small_ledger(tmp_path / "node")
    node.close()
    appender = _appender(node.layout.root, accounts["alex"], accounts["sam"], 100_000)
    assert appender.stdout is not None
    for _ in range(20):  # let it append a few, then kill it wherever it is
        assert appender.stdout.readline().startswith("paid"), appender.stderr.read()  # type: ignore[union-attr]
    time.sleep(0.3)
    os.kill(appender.pid, signal.SIGKILL)
    appender.wait()
    said = _sound(node.layout.root)
    positions = int(said.split(": ")[1].split(" ")[0])
    assert positions >= 26  # the six of the small ledger and the twenty seen, at least
    balance = hameau("ledger", "balance", "sam", "--data-dir", str(node.layout.root)).stdout
    paid = positions - 6
    assert f"{(550 + paid) // 100},{(550 + paid) % 100:02d}" in balance, (balance, paid)


def test_two_appenders_at_once_never_fork(tmp_path: Path) -> None:
    node, accounts = small_ledger(tmp_path / "node")
    node.close()
    both = [
        _appender(node.layout.root, accounts["alex"], accounts["sam"], 60),
        _appender(node.layout.root, accounts["sam"], accounts["alex"], 60),
    ]
    outputs = [process.communicate(timeout=600)[0] for process in both]
    assert all(process.returncode == 0 for process in both)
    paid = [sum(line.startswith("paid") for line in out.splitlines()) for out in outputs]
    seen = sorted(
        int(line.split()[1])
        for out in outputs
        for line in out.splitlines()
        if line.startswith("paid")
    )
    assert len(seen) == len(set(seen)), "two payments at one position"
    said = _sound(node.layout.root)
    assert f"{6 + sum(paid)} positions" in said
    balance = hameau("ledger", "balance", "alex", "--data-dir", str(node.layout.root)).stdout
    cents = 1450 - paid[0] + paid[1]
    assert f"{cents // 100},{cents % 100:02d}" in balance, (balance, paid)


def test_a_payment_made_with_rows_read_before_another_payment_loses_neither(
    tmp_path: Path,
) -> None:
    """The two appenders' race, made deterministic: a session reads both accounts, another
    writer commits a payment, then the first session pays with the rows it read before. Both
    payments count and the ledger verifies (a balance computed from the older rows would undo
    the other payment)."""
    from hameau.ledger import service
    from hameau.ledger.models import LedgerAccount
    from hameau.node.db import transaction

    node, accounts = small_ledger(tmp_path / "node")
    with transaction(node.sessions) as late:
        alex = late.get(LedgerAccount, accounts["alex"])
        sam = late.get(LedgerAccount, accounts["sam"])
        assert alex is not None and sam is not None and alex.balance == 1450
        with transaction(node.sessions) as other:
            payer = other.get(LedgerAccount, accounts["sam"])
            payee = other.get(LedgerAccount, accounts["alex"])
            service.transfer(node, other, payer, payee, 100)
        service.transfer(node, late, alex, sam, 1)
    node.close()
    assert "8 positions" in _sound(node.layout.root)
    balance = hameau("ledger", "balance", "alex", "--data-dir", str(node.layout.root)).stdout
    assert "15,49" in balance, balance

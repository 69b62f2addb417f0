"""One escrow on the EVM adapter: open (approve + open) then release to two payees, through
EvmEscrow on eth-tester (py-evm in process); beside the same three transactions sent straight
to eth-tester's py-evm backend (no trial call, no validation layer: what the adapter adds),
and beside the embedded ledger's EmbeddedEscrow when it is on this branch. Wall time per
escrow (fastest and median of N) and the gas of each transaction. Prints one JSON line.

    .venv/bin/python bench/ledger_evm.py [--escrows 20]

bench/ledger.py (the embedded ledger's benchmark) may call `evm_figures(escrows)`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hameau.ledger.escrow import Conditions, EscrowBackend

HOUR = 3600


class Clock:
    """Ahead of the wall clock (a chain's blocks never go back) and moved by nobody here."""

    def __init__(self) -> None:
        self.now = int(time.time()) + 10_000

    def __call__(self) -> int:
        return self.now


def _figures(runs: list[tuple[float, float]]) -> dict[str, float]:
    """Fastest and median wall time, and median CPU time of this process (which the
    machine's other load hardly moves), in milliseconds per escrow."""
    return {
        "min_ms": round(min(wall for wall, _ in runs) * 1000, 2),
        "median_ms": round(statistics.median(wall for wall, _ in runs) * 1000, 2),
        "cpu_median_ms": round(statistics.median(cpu for _, cpu in runs) * 1000, 2),
    }


def one_escrow(ledger: EscrowBackend, clock: Clock) -> Callable[[], None]:
    """A function that opens one escrow of 30 € and releases 10 € + 5 € to two payees."""
    payer, bob, carol, signer = map(ledger.account, ("payer", "bob", "carol", "signer"))
    ledger.issue(payer, 10_000_000)
    payees = tuple(sorted((bob, carol)))

    def run() -> None:
        escrow = ledger.open_escrow(payer, 3_000, Conditions(payees, signer, clock.now + HOUR))
        settled = ledger.release(ledger.sign_receipt(escrow, {bob: 1_000, carol: 500}, signer))
        assert settled.state == "released"

    return run


def timed(run: Callable[[], None], escrows: int) -> list[tuple[float, float]]:
    run()  # once first: what is compiled or cached on first use is not counted
    taken = []
    for _ in range(escrows):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        taken.append((time.perf_counter() - wall, time.process_time() - cpu))
    return taken


def direct(evm: Any, escrows: int) -> dict[str, Any]:
    """The adapter's transactions, replayed straight on eth-tester's py-evm backend."""

    clock = evm._clock
    chain = evm._chain
    payer, bob, carol, signer = map(evm.account, ("payer", "bob", "carol", "signer"))
    evm.issue(payer, 10_000_000)
    payees = sorted((bob, carol))
    operator = evm._operator.lower()

    def send(sender: str, contract: Any, function: str, *args: Any) -> None:
        raw = chain.normalizer.normalize_inbound_transaction(
            {"from": sender, "to": contract.address, "gas": 2_000_000,
             "data": contract.data(function, *args)}
        )  # fmt: skip
        chain.backend.send_transaction(raw)
        chain.backend.mine_blocks()  # one block per transaction, as eth-tester's auto-mining

    def run() -> None:
        number = evm._view(evm.escrow, "last_id")[0] + 1
        send(payer, evm.token, "approve", evm.escrow.address, 3_000)
        send(payer, evm.escrow, "open", 3_000, signer, clock.now + HOUR, payees)
        receipt = evm.sign_receipt(str(number), {bob: 1_000, carol: 500}, signer)
        cents = [amount for _, amount in receipt.payouts]  # in the payees' order
        send(operator, evm.escrow, "release", number, signer, payees, cents, receipt.signature)
        assert evm._view(evm.escrow, "settlement", number)[0] == 2  # released

    return _figures(timed(run, escrows))


def evm_figures(escrows: int) -> dict[str, Any]:
    started = time.perf_counter()
    from hameau.ledger.evm.backend import EvmEscrow

    imported = time.perf_counter() - started
    clock = Clock()
    started = time.perf_counter()
    evm = EvmEscrow(clock=clock)
    deployed = time.perf_counter() - started
    figures: dict[str, Any] = {
        "import_s": round(imported, 2),
        "start_and_deploy_s": round(deployed, 3),
        **_figures(timed(one_escrow(evm, clock), escrows)),
        "gas": {op: evm.gas_used[op] for op in ("approve", "open", "release")},
        "gas_deploy": {op: gas for op, gas in evm.gas_used.items() if op.startswith("deploy")},
    }
    figures["pyevm_direct"] = direct(evm.sibling(), escrows)
    return figures


def embedded_figures(escrows: int) -> dict[str, Any] | str:
    try:
        from hameau.ledger.embedded_escrow import EmbeddedEscrow  # type: ignore[import-not-found]
    except ImportError:
        return "not run: the embedded ledger is not on this branch"
    from tests.helpers import make_node

    with tempfile.TemporaryDirectory() as folder:
        node = make_node(Path(folder) / "node")
        try:
            clock = Clock()
            return _figures(timed(one_escrow(EmbeddedEscrow(node, clock=clock), clock), escrows))
        finally:
            node.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--escrows", type=int, default=20)
    escrows = parser.parse_args().escrows
    result = {
        "bench": "ledger_evm",
        "escrows": escrows,
        "evm": evm_figures(escrows),
        "embedded": embedded_figures(escrows),
        "load_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""What only the EVM escrow has: ECDSA receipts bound to one chain and one contract, the
compiled bytecode kept in the repository, gas. The shared cases are in test_escrow_cases.py."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hameau.ledger.escrow import Conditions, Receipt
from tests.ledger.test_escrow_cases import HOUR, SettableClock, refused

pytest.importorskip("eth_tester", reason="not run: eth-tester is not installed ('.[evm]')")

from eth_account import Account
from eth_account.messages import encode_intended_validator
from eth_utils import to_checksum_address

from hameau.ledger.evm import build
from hameau.ledger.evm.backend import EvmEscrow

# secp256k1's group order: (r, n - s) with v flipped is the same signature, mirrored.
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture
def evm() -> EvmEscrow:
    return EvmEscrow(clock=SettableClock())


def _open(ledger: EvmEscrow, amount: int = 3_000) -> tuple[str, str, str, str]:
    payer, payee, signer = (ledger.account(n) for n in ("payer", "payee", "signer"))
    ledger.issue(payer, 10_000)
    deadline = ledger._clock() + HOUR
    return ledger.open_escrow(payer, amount, Conditions((payee,), signer, deadline)), *(
        payer,
        payee,
        signer,
    )


def test_a_random_or_truncated_signature_is_refused(evm: EvmEscrow) -> None:
    escrow, _, payee, signer = _open(evm)
    for signature in (os.urandom(65), os.urandom(64), b""):
        with refused("bad_signature"):
            evm.release(Receipt(escrow, ((payee, 100),), signer, signature))
    assert evm.settlement(escrow).state == "open"


def test_the_mirrored_signature_is_refused(evm: EvmEscrow) -> None:
    """(r, n - s) recovers the same key; only the low-s form counts, so a receipt has one
    signature (no second transaction that looks new)."""
    escrow, _, payee, signer = _open(evm)
    receipt = evm.sign_receipt(escrow, {payee: 100}, signer)
    r, s, v = (
        receipt.signature[:32],
        int.from_bytes(receipt.signature[32:64]),
        receipt.signature[64],
    )
    mirrored = r + (N - s).to_bytes(32) + bytes([55 - v])  # 27 <-> 28
    with refused("bad_signature"):
        evm.release(Receipt(escrow, receipt.payouts, signer, mirrored))
    assert evm.release(receipt).state == "released"


def test_a_receipt_for_another_deployment_is_refused(evm: EvmEscrow) -> None:
    """Two deployments with the same escrow number and the same people: a receipt for one
    is worth nothing at the other (the contract's address is in what is signed)."""
    other = evm.sibling()
    escrow, payer, payee, signer = _open(evm)
    deadline = evm._clock() + HOUR
    assert other.open_escrow(payer, 3_000, Conditions((payee,), signer, deadline)) == escrow
    receipt = evm.sign_receipt(escrow, {payee: 1_000}, signer)
    with refused("bad_signature"):
        other.release(receipt)
    assert other.settlement(escrow).state == "open"
    assert evm.release(receipt).state == "released"
    # Each contract holds exactly what is still escrowed there.
    assert evm.balance(evm.escrow.address) == 0
    assert evm.balance(other.escrow.address) == 3_000
    assert evm.balance(payee) == 1_000 and evm.balance(payer) == 10_000 - 1_000 - 3_000


def test_a_receipt_for_another_chain_is_refused(evm: EvmEscrow) -> None:
    escrow, _, payee, signer = _open(evm)
    receipt = evm.sign_receipt(escrow, {payee: 1_000}, signer, chain_id=1)
    with refused("bad_signature"):
        evm.release(receipt)
    assert evm.settlement(escrow).state == "open"


def test_a_receipt_is_a_standard_eip191_signature(evm: EvmEscrow) -> None:
    """Any wallet library finds the signer from the receipt alone (EIP-191, version 0, with
    the escrow contract as the intended validator)."""
    escrow, _, payee, signer = _open(evm)
    receipt = evm.sign_receipt(escrow, {payee: 1_000}, signer)
    from hameau.ledger.evm.backend import _receipt_data

    message = encode_intended_validator(
        to_checksum_address(evm.escrow.address),
        primitive=_receipt_data(evm.chain_id, int(escrow), receipt.payouts),
    )
    assert Account.recover_message(message, signature=receipt.signature).lower() == signer


def test_only_the_cooperative_mints(evm: EvmEscrow) -> None:
    someone = evm.account("someone")
    with pytest.raises(RuntimeError, match="not_owner"):
        evm._transact("mint", evm.token, someone, someone, 1_000_000)
    assert evm.balance(someone) == 0


def test_an_escrow_names_at_most_eight_payees(evm: EvmEscrow) -> None:
    payer = evm.account("payer")
    evm.issue(payer, 1_000)
    payees = tuple(sorted(evm.account(f"p{i}") for i in range(9)))
    with pytest.raises(ValueError, match="1 to 8 payees"):
        evm.open_escrow(payer, 100, Conditions(payees, payer, evm._clock() + HOUR))
    assert evm.balance(payer) == 1_000


def test_gas_per_operation(evm: EvmEscrow) -> None:
    """Printed for docs/credit.md (pytest -s); gas is the chain's fee, not a timing."""
    escrow, payer, payee, signer = _open(evm)
    used = dict(evm.gas_used)
    receipt = evm.sign_receipt(escrow, {payee: 1_000}, signer)
    evm.release(receipt)
    used["release"] = evm.gas_used["release"]
    # The same receipt sent again by a second relayer: the contract changes nothing.
    payees, cents = [p for p, _ in receipt.payouts], [c for _, c in receipt.payouts]
    balances = [evm.balance(a) for a in (payer, payee, evm.escrow.address)]
    evm._transact("release", evm.escrow, evm._operator, int(escrow), signer, payees, cents,
                  receipt.signature)  # fmt: skip
    used["release again (no change)"] = evm.gas_used["release"]
    assert [evm.balance(a) for a in (payer, payee, evm.escrow.address)] == balances
    # Through the adapter, the same receipt again sends nothing at all.
    block = evm._chain.get_block_by_number("latest")["number"]
    evm.release(receipt)
    assert evm._chain.get_block_by_number("latest")["number"] == block
    second, *_ = _open(evm)
    evm._clock.now += HOUR  # type: ignore[attr-defined]
    evm.refund(second)
    used["refund"] = evm.gas_used["refund"]
    print("\ngas used:", json.dumps(used))
    assert set(used) >= {"deploy euro", "deploy escrow", "mint", "approve", "open", "refund"}
    assert all(gas > 21_000 for gas in used.values())  # each ran contract code


def test_the_committed_bytecode_is_what_vyper_compiles() -> None:
    """A node deploys the JSON beside the sources, without the compiler: it must be the
    sources' compilation, byte for byte."""
    pytest.importorskip("vyper", reason="not run: the Vyper compiler is not installed")
    for name in build.NAMES:
        kept = json.loads((build.CONTRACTS / f"{name}.json").read_text())
        assert kept["source_sha256"] == build.source_digest(name), f"{name}.vy changed"
        fresh = build.compile_contract(name)
        assert (kept["bytecode"], kept["abi"]) == (fresh["bytecode"], fresh["abi"]), name


def test_the_interface_alone_loads_nothing_of_the_chain() -> None:
    """hameau.ledger.escrow is what a node imports; eth-tester, py-evm and Vyper load only
    when the setting chooses the EVM."""
    code = (
        "import sys, hameau.ledger.escrow; "
        "print([m for m in sys.modules if m.split('.')[0] in "
        "('eth', 'eth_tester', 'eth_abi', 'eth_account', 'eth_keys', 'vyper', 'web3')"
        " or m.startswith('hameau.ledger.evm')])"
    )
    loaded = _python(code)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "[]", loaded.stderr


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by a new Python with this checkout on its path."""
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip


def test_a_node_with_the_evm_loaded_survives_json_nested_past_its_stack() -> None:
    """py_ecc, which py-evm imports, raises Python's recursion limit to 100,000; JSON nested
    60,000 deep in a request then overflowed the C stack of the thread decoding it, and the
    whole server died (SIGSEGV). With the adapter loaded, the decoder must raise instead."""
    code = (
        "import json, sys, threading, hameau.ledger.evm.backend\n"
        "def decode():\n"
        "    try:\n"
        "        json.loads('[' * 99_000 + ']' * 99_000)\n"
        "        print('decoded')\n"
        "    except RecursionError:\n"
        "        print('refused')\n"
        "worker = threading.Thread(target=decode)\n"
        "worker.start()\n"
        "worker.join()\n"
    )
    done = _python(code)
    assert done.returncode == 0 and done.stdout.strip() == "refused", (done.returncode, done.stderr)


def test_a_release_made_elsewhere_is_read_from_the_chain(evm: EvmEscrow) -> None:
    """A second adapter on the same contract (say, after a restart) finds the payouts in the
    Released event, since the contract does not keep them in storage."""
    escrow, payer, payee, signer = _open(evm)
    released = evm.release(evm.sign_receipt(escrow, {payee: 1_000}, signer))
    reader = copy.copy(evm)
    reader._settled = {}  # nothing seen by this one
    assert reader.settlement(escrow) == released
    assert released.paid == tuple(sorted(((payee, 1_000), (payer, 2_000))))


def test_the_setting_chooses_the_evm_escrow(tmp_path: Path) -> None:
    from hameau.ledger import escrow

    if not hasattr(escrow, "backend"):
        pytest.skip("not run: backend(node) is the embedded ledger's, not on this branch yet")
    from tests.helpers import make_node

    node = make_node(tmp_path / "node", ledger_escrow="evm")
    try:
        chosen = escrow.backend(node, clock=SettableClock())
        assert isinstance(chosen, EvmEscrow)
        payer = chosen.account("payer")
        chosen.issue(payer, 500)
        assert chosen.balance(payer) == 500
    finally:
        node.close()


def test_a_receipt_naming_no_address_of_the_chain_is_refused(evm: EvmEscrow) -> None:
    escrow, _, payee, signer = _open(evm)
    signed = evm.sign_receipt(escrow, {payee: 100}, signer)
    with refused("not_payee"):
        evm.release(Receipt(escrow, (("alice", 100),), signer, signed.signature))
    with refused("wrong_signer"):
        evm.release(Receipt(escrow, signed.payouts, "the signer", signed.signature))
    assert evm.settlement(escrow).state == "open"

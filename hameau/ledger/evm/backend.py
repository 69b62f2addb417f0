"""EvmEscrow: the escrow interface (hameau/ledger/escrow.py) on an in-process EVM chain.

eth-tester runs py-evm in this process; the euro token and the escrow contract (Vyper, see
contracts/) are deployed at start. The backend holds every account's secp256k1 key; the
cooperative's account deploys, mints and sends the releases and refunds (anyone may), each
payer sends its own approve + open. Before each transaction the chain's time moves to clock().
"""

from __future__ import annotations

import copy
import os
import sys
import threading
import time
from typing import Any

from eth import EVM_RECURSION_LIMIT
from eth_abi import decode, encode
from eth_account import Account
from eth_account.messages import encode_intended_validator
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from eth_utils import is_address, keccak, to_checksum_address

from hameau.ledger.escrow import Clock, Conditions, EscrowError, Receipt, Settlement
from hameau.ledger.evm import build

# py_ecc, which py-evm imports, raises Python's recursion limit to 100,000. At that limit,
# JSON nested some 60,000 deep in a request's body overflows the C stack of the thread that
# decodes it, and the whole server dies (SIGSEGV) where it would raise RecursionError. py-evm
# itself asks for 12,288 (1,024 EVM call frames); that much is kept, no more.
sys.setrecursionlimit(min(sys.getrecursionlimit(), EVM_RECURSION_LIMIT))

REASONS = frozenset(
    ("insufficient", "unknown_escrow", "not_payee", "bad_signature", "wrong_signer",
     "over_amount", "already_settled", "too_early", "too_late")
)  # fmt: skip
MAX_PAYEES = 8  # as in contracts/escrow.vy
GAS = 2_000_000  # a ceiling per transaction; what is used is in `gas_used`
STATES = {1: "open", 2: "released", 3: "refunded"}
FUNDING = 10**18  # 1 ether per new account, for the gas of its approve + open


def _now() -> int:
    return int(time.time())


class Contract:
    """A deployed contract: calls encoded and results decoded with its ABI (no web3)."""

    def __init__(self, address: str, abi: list[dict[str, Any]]) -> None:
        self.address = address
        self.functions = {f["name"]: f for f in abi if f["type"] == "function"}

    def data(self, function: str, *args: Any) -> str:
        types = [i["type"] for i in self.functions[function]["inputs"]]
        selector = keccak(text=f"{function}({','.join(types)})")[:4]
        return "0x" + (selector + encode(types, list(args))).hex()

    def result(self, function: str, output: str) -> tuple[Any, ...]:
        types = [o["type"] for o in self.functions[function]["outputs"]]
        return decode(types, bytes.fromhex(output.removeprefix("0x")))


class EvmEscrow:
    name = "evm"

    def __init__(self, clock: Clock = _now) -> None:
        self._clock = clock
        self._chain = EthereumTester(backend=PyEVMBackend())
        self._lock = threading.RLock()  # one chain, one caller at a time (reads included)
        self._operator = self._chain.get_accounts()[0]  # the cooperative: deploys, mints
        self._accounts: dict[str, str] = {}  # name -> address (lowercase hex)
        self._keys: dict[str, bytes] = {}  # address -> secp256k1 private key
        self.gas_used: dict[str, int] = {}  # operation -> gas of its last transaction
        self._settled: dict[str, Settlement] = {}  # released or refunded: final
        self._last_block = 0  # of the last transaction
        self.chain_id: int = self._chain.backend.chain.chain_id
        self.token = self._deploy("euro")
        self.escrow = self._deploy("escrow", self.token.address)

    def sibling(self) -> EvmEscrow:
        """A second escrow contract on the same chain, token and accounts (another deployment,
        as a second community would make)."""
        other = copy.copy(self)
        other.escrow, other._settled = self._deploy("escrow", self.token.address), {}
        return other

    # Accounts and balances

    def account(self, name: str) -> str:
        with self._lock:
            if name not in self._accounts:
                key = os.urandom(32)
                address = Account.from_key(key).address.lower()
                self._chain.add_account("0x" + key.hex())
                self._keys[address] = key
                self._accounts[name] = address
                self._tick()
                self._chain.send_transaction(
                    {"from": self._operator, "to": to_checksum_address(address),
                     "value": FUNDING, "gas": 21_000}
                )  # fmt: skip
            return self._accounts[name]

    def issue(self, account: str, cents: int) -> None:
        with self._lock:
            self._transact("mint", self.token, self._operator, account, cents)

    def balance(self, account: str) -> int:
        return int(self._view(self.token, "balanceOf", account)[0])

    # Escrows

    def open_escrow(self, payer: str, amount: int, conditions: Conditions) -> str:
        if not 0 < len(conditions.payees) <= MAX_PAYEES or amount <= 0:
            raise ValueError(f"an escrow names 1 to {MAX_PAYEES} payees and a positive amount")
        with self._lock:
            if self.balance(payer) < amount:
                raise EscrowError("insufficient")
            self._transact("approve", self.token, payer, self.escrow.address, amount)
            (escrow_id,) = self._transact(
                "open", self.escrow, payer, amount, conditions.signer, conditions.deadline,
                list(conditions.payees),
            )  # fmt: skip
            return str(escrow_id)

    def sign_receipt(
        self,
        escrow_id: str,
        payouts: dict[str, int],
        signer: str,
        *,
        chain_id: int | None = None,
        contract: str | None = None,
    ) -> Receipt:
        """A receipt signed by `signer` for this contract on this chain (another chain id or
        contract only for tests of replays across deployments)."""
        ordered = tuple(sorted((payee.lower(), cents) for payee, cents in payouts.items()))
        message = encode_intended_validator(
            to_checksum_address(contract or self.escrow.address),
            primitive=_receipt_data(chain_id or self.chain_id, _number(escrow_id), ordered),
        )
        key = self._keys.get(signer.lower())
        if key is None:
            raise ValueError("this backend holds no key for the signer")
        signed = Account.sign_message(message, key)
        return Receipt(escrow_id, ordered, signer.lower(), bytes(signed.signature))

    def release(self, receipt: Receipt) -> Settlement:
        number = _number(receipt.escrow_id)
        payees = [payee for payee, _ in receipt.payouts]
        cents = [amount for _, amount in receipt.payouts]
        if not all(is_address(payee) for payee in payees) or min(cents, default=0) < 0:
            raise EscrowError("not_payee")  # no account of this chain: none of the payees
        if not is_address(receipt.signer):
            raise EscrowError("wrong_signer")
        with self._lock:
            state, _, _, released_by = self._view(self.escrow, "settlement", number)
            if state == 2 and released_by == self._digest(number, receipt.payouts):
                return self.settlement(receipt.escrow_id)  # done already: no gas spent again
            self._transact(
                "release", self.escrow, self._operator, number, receipt.signer, payees, cents,
                receipt.signature,
            )  # fmt: skip
            return self._settlement(receipt.escrow_id, self._last_block)

    def refund(self, escrow_id: str) -> Settlement:
        with self._lock:
            self._transact("refund", self.escrow, self._operator, _number(escrow_id))
        return self.settlement(escrow_id)

    def settlement(self, escrow_id: str) -> Settlement:
        with self._lock:
            return self._settlement(escrow_id, None)

    def _settlement(self, escrow_id: str, block: int | None) -> Settlement:
        """The settlement; `block`: where it was released, if known (a scan of the logs
        from the first block is slow on eth-tester)."""
        if escrow_id in self._settled:
            return self._settled[escrow_id]
        number = _number(escrow_id)
        state, payer, amount, _ = self._view(self.escrow, "settlement", number)
        if state == 0:
            raise EscrowError("unknown_escrow")
        if state == 1:
            return Settlement(escrow_id, "open", ())
        credited = {payer.lower(): amount}
        if state == 2:
            paid_to, paid, returned = self._released(number, block)
            credited = {payer.lower(): returned}
            for payee, cents in zip(paid_to, paid, strict=True):
                credited[payee.lower()] = credited.get(payee.lower(), 0) + cents
        paid_out = tuple(sorted((a, c) for a, c in credited.items() if c > 0))
        self._settled[escrow_id] = Settlement(escrow_id, STATES[state], paid_out)  # final
        return self._settled[escrow_id]

    def _released(self, number: int, block: int | None) -> tuple[Any, ...]:
        """The payouts of a released escrow, from its Released event (not kept in storage)."""
        topics = [
            "0x" + keccak(text="Released(uint256,bytes32,address[],uint256[],uint256)").hex(),
            "0x" + number.to_bytes(32, "big").hex(),
        ]
        found = self._chain.create_log_filter(
            from_block=block or 0, to_block=block or "latest",
            address=to_checksum_address(self.escrow.address), topics=topics,
        )  # fmt: skip
        try:
            (log,) = self._chain.get_all_filter_logs(found)
        finally:
            self._chain.delete_filter(found)
        data = log["data"]
        data = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else data
        _, paid_to, paid, returned = decode(["bytes32", "address[]", "uint256[]", "uint256"], data)
        return paid_to, paid, returned

    def _digest(self, number: int, payouts: tuple[tuple[str, int], ...]) -> bytes:
        """escrow.vy's _digest: EIP-191 version 0, this contract as the intended validator."""
        validator = bytes.fromhex(self.escrow.address.removeprefix("0x"))
        return keccak(b"\x19\x00" + validator + _receipt_data(self.chain_id, number, payouts))

    # The chain

    def _tick(self) -> None:
        """Move the chain's next block to clock(); a chain never goes back, so when clock()
        is behind the next block (two transactions in one second), the block's time wins."""
        if self._clock() > self._chain.get_block_by_number("pending")["timestamp"]:
            self._chain.time_travel(self._clock())

    def _deploy(self, name: str, *args: Any) -> Contract:
        compiled = build.load(name)
        constructor = next((f for f in compiled["abi"] if f["type"] == "constructor"), None)
        types = [i["type"] for i in constructor["inputs"]] if constructor else []
        data = compiled["bytecode"] + encode(types, list(args)).hex()
        self._tick()
        tx = self._chain.send_transaction({"from": self._operator, "data": data, "gas": GAS})
        receipt = self._chain.get_transaction_receipt(tx)
        self.gas_used[f"deploy {name}"] = receipt["gas_used"]
        return Contract(receipt["contract_address"].lower(), compiled["abi"])

    def _view(self, contract: Contract, function: str, *args: Any) -> tuple[Any, ...]:
        call = {"from": self._operator, "to": to_checksum_address(contract.address),
                "data": contract.data(function, *args)}  # fmt: skip
        with self._lock:
            return contract.result(function, self._chain.call(call))

    def _transact(self, function: str, contract: Contract, sender: str, *args: Any) -> Any:
        """Try the call on the next block (to learn the refusal's reason), then send it."""
        self._tick()
        tx = {"from": to_checksum_address(sender), "to": to_checksum_address(contract.address),
              "data": contract.data(function, *args), "gas": GAS}  # fmt: skip
        try:
            output = self._chain.call(tx, "pending")
        except TransactionFailed as refused:
            reason = str(refused.args[0]) if refused.args else ""
            if reason in REASONS:
                raise EscrowError(reason) from None
            raise RuntimeError(f"the contract refused {function}: {reason!r}") from None
        receipt = self._chain.get_transaction_receipt(self._chain.send_transaction(tx))
        if receipt["status"] != 1:
            raise RuntimeError(f"{function} failed on the chain after a successful trial")
        self.gas_used[function] = receipt["gas_used"]
        self._last_block = receipt["block_number"]
        return contract.result(function, output)


def _number(escrow_id: str) -> int:
    """An escrow id on the chain is a positive integer; anything else is no known escrow."""
    if not escrow_id.isdecimal() or not 0 < int(escrow_id) < 2**256:
        raise EscrowError("unknown_escrow")
    return int(escrow_id)


def _receipt_data(chain_id: int, number: int, payouts: tuple[tuple[str, int], ...]) -> bytes:
    """What escrow.vy's _digest hashes after the EIP-191 prefix and the contract's address."""
    payees = [payee for payee, _ in payouts]
    cents = [amount for _, amount in payouts]
    types = ["uint256", "uint256", "address[]", "uint256[]"]
    return keccak(encode(types, [chain_id, number, payees, cents]))

# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title Escrow of euro cents, released by a signed receipt or refunded at a deadline
@notice The same rules as the hamlet's embedded ledger (hameau/ledger/escrow.py): a payer
    locks an amount for a set of payees; before the deadline a receipt signed by the named
    signer pays the payees and returns the rest to the payer; from the deadline on, anyone may
    send everything back to the payer. Settling twice the same way changes nothing.
    Revert reasons are the interface's reasons, so an adapter passes them on as they are.
"""
from ethereum.ercs import IERC20

MAX_PAYEES: constant(uint256) = 8
# secp256k1's order / 2: a signature with a higher s is the mirror of another one.
HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

OPEN: constant(uint8) = 1
RELEASED: constant(uint8) = 2
REFUNDED: constant(uint8) = 3

struct Escrow:
    payer: address
    amount: uint256
    signer: address
    deadline: uint256
    state: uint8
    payees: DynArray[address, MAX_PAYEES]
    receipt: bytes32  # the digest of the receipt that released it (idempotent settlement)

event Opened:
    escrow_id: indexed(uint256)
    payer: indexed(address)
    amount: uint256
    signer: address
    deadline: uint256

event Released:
    escrow_id: indexed(uint256)
    receipt: bytes32
    paid_to: DynArray[address, MAX_PAYEES]
    paid: DynArray[uint256, MAX_PAYEES]
    returned: uint256

event Refunded:
    escrow_id: indexed(uint256)
    payer: indexed(address)
    amount: uint256

token: public(immutable(IERC20))
escrows: HashMap[uint256, Escrow]
last_id: public(uint256)


@deploy
def __init__(euro: IERC20):
    token = euro


@external
def open(amount: uint256, signer: address, deadline: uint256,
         payees: DynArray[address, MAX_PAYEES]) -> uint256:
    """Lock `amount` of the sender's tokens (approved beforehand) until release or refund."""
    assert staticcall token.balanceOf(msg.sender) >= amount, "insufficient"
    assert extcall token.transferFrom(msg.sender, self, amount), "insufficient"
    self.last_id += 1
    self.escrows[self.last_id] = Escrow(
        payer=msg.sender, amount=amount, signer=signer, deadline=deadline, state=OPEN,
        payees=payees, receipt=empty(bytes32))
    log Opened(escrow_id=self.last_id, payer=msg.sender, amount=amount, signer=signer,
               deadline=deadline)
    return self.last_id


@view
@external
def digest(escrow_id: uint256, paid_to: DynArray[address, MAX_PAYEES],
           paid: DynArray[uint256, MAX_PAYEES]) -> bytes32:
    """What the signer signs: EIP-191 version 0 (this contract is the intended validator)
    over the chain id, the escrow and the payouts, so a receipt is valid here only."""
    return self._digest(escrow_id, paid_to, paid)


@view
@internal
def _digest(escrow_id: uint256, paid_to: DynArray[address, MAX_PAYEES],
            paid: DynArray[uint256, MAX_PAYEES]) -> bytes32:
    data: bytes32 = keccak256(abi_encode(chain.id, escrow_id, paid_to, paid))
    return keccak256(concat(x"1900", convert(self, bytes20), data))


@external
def release(escrow_id: uint256, signer: address, paid_to: DynArray[address, MAX_PAYEES],
            paid: DynArray[uint256, MAX_PAYEES], signature: Bytes[65]):
    """Pay `paid[i]` to `paid_to[i]` (sorted, each one of the payees) and the rest back to the
    payer, on the signer's receipt, before the deadline."""
    e: Escrow = self.escrows[escrow_id]
    assert e.state != 0, "unknown_escrow"
    receipt: bytes32 = self._digest(escrow_id, paid_to, paid)
    if e.state == RELEASED and e.receipt == receipt:
        return  # the same receipt again: already done, nothing changes
    assert e.state == OPEN, "already_settled"
    assert block.timestamp < e.deadline, "too_late"
    assert signer == e.signer, "wrong_signer"
    assert len(signature) == 65 and len(paid_to) == len(paid), "bad_signature"
    r: uint256 = convert(slice(signature, 0, 32), uint256)
    s: uint256 = convert(slice(signature, 32, 32), uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert s <= HALF_N, "bad_signature"
    assert ecrecover(receipt, v, r, s) == e.signer, "bad_signature"
    total: uint256 = 0
    previous: uint256 = 0
    for i: uint256 in range(len(paid_to), bound=MAX_PAYEES):
        # Strictly increasing addresses: no payee counted twice.
        assert convert(paid_to[i], uint256) > previous and paid_to[i] in e.payees, "not_payee"
        previous = convert(paid_to[i], uint256)
        total += paid[i]
    assert total <= e.amount, "over_amount"
    # The payouts are in the Released event only: storing them would double the gas.
    self.escrows[escrow_id].state = RELEASED
    self.escrows[escrow_id].receipt = receipt
    for i: uint256 in range(len(paid_to), bound=MAX_PAYEES):
        if paid[i] > 0:
            assert extcall token.transfer(paid_to[i], paid[i])
    if e.amount > total:
        assert extcall token.transfer(e.payer, e.amount - total)
    log Released(escrow_id=escrow_id, receipt=receipt, paid_to=paid_to, paid=paid,
                 returned=e.amount - total)


@external
def refund(escrow_id: uint256):
    """From the deadline on, everything back to the payer; anyone may call it."""
    e: Escrow = self.escrows[escrow_id]
    assert e.state != 0, "unknown_escrow"
    if e.state == REFUNDED:
        return  # refunded already: nothing changes
    assert e.state == OPEN, "already_settled"
    assert block.timestamp >= e.deadline, "too_early"
    self.escrows[escrow_id].state = REFUNDED
    assert extcall token.transfer(e.payer, e.amount)
    log Refunded(escrow_id=escrow_id, payer=e.payer, amount=e.amount)


@view
@external
def settlement(escrow_id: uint256) -> (uint8, address, uint256, bytes32):
    """State (0 unknown, 1 open, 2 released, 3 refunded), payer, amount and the digest of the
    receipt that released it (its payouts: in the Released event)."""
    e: Escrow = self.escrows[escrow_id]
    return e.state, e.payer, e.amount, e.receipt

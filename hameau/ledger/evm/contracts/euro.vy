# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title Euro cents, issued by the hamlet's cooperative
@notice A minimal ERC-20: 2 decimals (1 unit = 1 euro cent); only the cooperative mints.
    On a public chain a community would use an existing euro stablecoin instead; this token
    stands in for it on the test chain and has the same ERC-20 surface the escrow uses.
"""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(constant(String[16])) = "Hameau euro cent"
symbol: public(constant(String[8])) = "HEUR"
decimals: public(constant(uint8)) = 2

owner: public(immutable(address))
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@deploy
def __init__():
    owner = msg.sender


@external
def mint(receiver: address, amount: uint256):
    # The cooperative alone issues, so the token stays backed by what it holds in euros.
    assert msg.sender == owner, "not_owner"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@internal
def _move(sender: address, receiver: address, amount: uint256):
    assert self.balanceOf[sender] >= amount, "insufficient"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._move(msg.sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    assert self.allowance[sender][msg.sender] >= amount, "not_allowed"
    self.allowance[sender][msg.sender] -= amount
    self._move(sender, receiver, amount)
    return True

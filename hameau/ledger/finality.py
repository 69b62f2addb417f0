"""When a position is final: the pure rules of several notaries (no I/O).

1. The ledger's notaries are those named by its last `open` or `notaries` entry before the
   position (node id -> public key); their order, by node id, is the order of succession.
2. A notary signs a position (its number and hash, crypto.position_message) only after it
   checked it (link, hash, the rules) and recorded its vote for it (votes.py); it never signs
   two different positions at one number.
3. A position is final once a strict majority of the notaries in effect signed it: one of
   one, two of two, two of three, three of five. Two majorities of one set always share a
   notary, and that notary signed one position at that number only, so two different final
   positions at one number cannot exist: no final entry is lost or reordered.
4. A signature that does not verify, or by a node that is not a notary in effect, is a forged
   one: it is refused, never counted.
5. Who sequences: the first notary, in the order of succession, that answers. One that is
   down is passed over after its timeout (the next one takes over); a notary that finds
   another position already voted at the number it wants re-proposes that one first.
"""

from __future__ import annotations

from collections.abc import Iterable

from hameau.ledger import crypto


def majority(count: int) -> int:
    """How many signatures make a position final among `count` notaries."""
    return count // 2 + 1


def succession(notaries: dict[str, str]) -> list[str]:
    """The notaries in the order in which they sequence (the first that answers does)."""
    return sorted(notaries)


def forged(
    notaries: dict[str, str], seq: int, entry_hash: str, signatures: Iterable[tuple[str, str]]
) -> str | None:
    """The first signer among (notary, signature) pairs that is not a notary in effect or
    whose signature does not verify; None if every one is good."""
    message = crypto.position_message(seq, entry_hash)
    for notary, signature in signatures:
        key = notaries.get(notary)
        if key is None or not crypto.verify(key, message, signature):
            return notary
    return None


def signers(
    notaries: dict[str, str], seq: int, entry_hash: str, signatures: Iterable[tuple[str, str]]
) -> set[str]:
    """The notaries in effect whose signature of this position verifies."""
    message = crypto.position_message(seq, entry_hash)
    return {
        notary
        for notary, signature in signatures
        if notary in notaries and crypto.verify(notaries[notary], message, signature)
    }


def is_final(
    notaries: dict[str, str], seq: int, entry_hash: str, signatures: Iterable[tuple[str, str]]
) -> bool:
    """A strict majority of the notaries in effect signed this position."""
    return bool(notaries) and len(signers(notaries, seq, entry_hash, signatures)) >= majority(
        len(notaries)
    )

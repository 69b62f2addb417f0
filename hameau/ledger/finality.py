"""When a position is final: the pure rules of several notaries (no I/O). How notaries get
there (rounds, one proposer per round, votes) is notarise.py's; these rules are what every
replica and `hameau ledger verify` check.

1. The ledger's notaries are those named by its last `open` or `notaries` entry before the
   position (node id -> public key); their order, by node id, is the order of succession.
2. Each number is decided in rounds 0, 1, 2…; round r has one proposer, the notary at
   r modulo their count in the order of succession (`proposer`). A notary signs a position
   (its number, hash and round: crypto.position_message) only after it checked it (link,
   hash, the rules) and recorded its vote (votes.py); in one round it signs one position at a
   number at most, and never a round below one it promised to a later proposer.
3. A position is final once a strict majority of the notaries in effect signed it in one
   same round: one of one, two of two, two of three, three of five. Signatures from different
   rounds do not add up (a notary may vote again in a later round; a later round's proposer
   proposes again whatever a majority may have signed before: Paxos's rule), so two
   different final positions at one number cannot exist.
4. A signature that does not verify, or by a node that is not a notary in effect, is a forged
   one: it is refused, never counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hameau.ledger import crypto

# (notary, signature) in round 0, or (notary, signature, round).
Signed = Sequence[object]


def majority(count: int) -> int:
    """How many signatures make a position final among `count` notaries."""
    return count // 2 + 1


def succession(notaries: dict[str, str]) -> list[str]:
    """The notaries in their order of succession (round r's proposer is the r-th, modulo)."""
    return sorted(notaries)


def proposer(notaries: dict[str, str], round: int) -> str:
    """The one notary that proposes positions in `round`."""
    order = succession(notaries)
    return order[round % len(order)]


def _parts(signed: Signed) -> tuple[str, str, int]:
    return str(signed[0]), str(signed[1]), int(signed[2]) if len(signed) > 2 else 0  # type: ignore[call-overload]


def _good(notaries: dict[str, str], seq: int, entry_hash: str, signed: Signed) -> bool:
    notary, signature, round = _parts(signed)
    key = notaries.get(notary)
    message = crypto.position_message(seq, entry_hash, round)
    return key is not None and crypto.verify(key, message, signature)


def forged(
    notaries: dict[str, str], seq: int, entry_hash: str, signatures: Iterable[Signed]
) -> str | None:
    """The first signer that is not a notary in effect or whose signature does not verify;
    None if every one is good."""
    for signed in signatures:
        if not _good(notaries, seq, entry_hash, signed):
            return _parts(signed)[0]
    return None


def signers(
    notaries: dict[str, str], seq: int, entry_hash: str, signatures: Iterable[Signed]
) -> set[str]:
    """The notaries in effect whose signature of this position verifies (any round)."""
    return {_parts(s)[0] for s in signatures if _good(notaries, seq, entry_hash, s)}


def is_final(
    notaries: dict[str, str], seq: int, entry_hash: str, signatures: Iterable[Signed]
) -> bool:
    """A strict majority of the notaries in effect signed this position in one same round."""
    by_round: dict[int, set[str]] = {}
    for signed in signatures:
        if _good(notaries, seq, entry_hash, signed):
            notary, _, round = _parts(signed)
            by_round.setdefault(round, set()).add(notary)
    need = majority(len(notaries))
    return bool(notaries) and any(len(names) >= need for names in by_round.values())

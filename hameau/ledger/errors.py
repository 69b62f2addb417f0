"""The ledger's errors: each carries its status and one sentence saying what to do."""

from __future__ import annotations

from hameau.errors import N_, BadRequest, Conflict, Forbidden, NotFound


class NoKey(NotFound):
    """An account whose key this node does not hold: it cannot sign for it."""


class NotNotary(Forbidden):
    """This node may not seal positions: the ledger names other notaries."""


class LedgerBusy(Conflict):
    """Another append took the position first."""


class NoAccount(NotFound):
    """A member or account that is not on this ledger."""


class EntryRefused(BadRequest):
    """An entry the rules refused, said for a person (the reason's sentence below)."""


class BadAmount(BadRequest):
    """An amount in euros that cannot be read."""


# What a person reads for each reason the rules give (rules.Refused.reason).
REASONS = {
    "insufficient": N_(
        "Not enough credit: this would take the account below its limit. Lower the amount."
    ),
    "unknown_account": N_("There is no such account on the ledger; check the name."),
    "not_cooperative": N_("Only the cooperative may do this."),
    "malformed": N_("This is not a valid ledger entry; check the amount and the recipient."),
    "replayed_nonce": N_("This entry was already recorded; nothing was changed."),
    "reordered_nonce": N_("An earlier entry of this account is missing; try again."),
    "bad_signature": N_("The signature is not valid; nothing was changed."),
    "bad_time": N_("The entry's time is before the ledger's last one; check the clock."),
    "unknown_escrow": N_("There is no such contract on the ledger."),
    "already_settled": N_("This contract is settled already; nothing was changed."),
    "too_early": N_("This contract can be refunded only from its deadline on."),
    "too_late": N_("This contract's deadline has passed; it can only be refunded."),
    "wrong_signer": N_("This receipt is not signed by the account the contract names."),
    "not_payee": N_("This receipt pays an account the contract does not name."),
    "over_amount": N_("This receipt pays more than the contract holds."),
}


def refused(reason: str) -> EntryRefused:
    return EntryRefused(REASONS.get(reason, REASONS["malformed"]))


class ReplicaRefused(Conflict):
    """A position pulled from a peer that does not verify: nothing of it is stored."""


class NoNotary(NotFound):
    """No paired home to pull the ledger from."""


class NotFinal(Conflict):
    """Too few notaries reachable to make an entry final now. Not "nothing recorded": a
    notary that voted for it may report that vote to a later round's proposer, who then makes
    it final (Paxos); a retry is signed at the same nonce until then, so it cannot pay twice."""


class Equivocation(Conflict):
    """A round's proposer proposed a second, different position at one number: refused."""

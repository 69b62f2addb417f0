"""The rulebook alone (no database): who may open the ledger, name notaries, set limits, issue
and redeem, and what a malformed entry is."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hameau.ledger import crypto, keys, rules


class Key:
    def __init__(self, kind: str) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.public = keys.public_of(self.private)
        self.id = crypto.account_id(kind, self.public)
        self.kind = kind
        self.nonce = 0

    def entry(self, kind: str, body: dict, ts: int = 1) -> tuple[rules.Entry, str]:
        self.nonce += 1
        entry = rules.Entry(kind, self.id, self.nonce, ts, body)
        return entry, crypto.b64(self.private.sign(crypto.ENTRY_PREFIX + entry.canonical()))

    def open(self, **more: object) -> tuple[rules.Entry, str]:
        return self.entry(
            "open", {"kind": self.kind, "public_key": self.public, "label": "x", **more}
        )


def _notaries(*keys_: Key) -> dict[str, str]:
    return {crypto.node_id(key.public): key.public for key in keys_}


def test_the_cooperative_opens_the_ledger_then_others_join() -> None:
    state, coop, member, other = rules.State(), Key("coop"), Key("member"), Key("coop")
    with pytest.raises(rules.Refused) as first:
        rules.apply(state, *member.open())
    assert first.value.reason == "not_cooperative"
    member.nonce = 0
    rules.apply(state, *coop.open(notaries=_notaries(coop)))
    rules.apply(state, *member.open())
    with pytest.raises(rules.Refused) as second:
        rules.apply(state, *other.open(notaries=_notaries(other)))
    assert second.value.reason == "not_cooperative"
    assert state.coop == coop.id and state.notaries == _notaries(coop)


def test_only_the_cooperative_names_notaries_and_sets_limits() -> None:
    state, coop, member, node = rules.State(), Key("coop"), Key("member"), Key("node")
    rules.apply(state, *coop.open(notaries=_notaries(coop)))
    rules.apply(state, *member.open())
    for kind, body in (
        ("notaries", {"notaries": _notaries(node)}),
        ("limit", {"account": member.id, "limit": 5}),
    ):
        with pytest.raises(rules.Refused) as refused:
            rules.apply(state, *member.entry(kind, body))
        assert refused.value.reason == "not_cooperative"
        member.nonce -= 1  # refused: the nonce was not used
    rules.apply(state, *coop.entry("notaries", {"notaries": _notaries(coop, node)}))
    assert set(state.notaries) == set(_notaries(coop, node))
    with pytest.raises(rules.Refused) as lying:  # a node id that is not its key's
        rules.apply(state, *coop.entry("notaries", {"notaries": {"abc": node.public}}))
    assert lying.value.reason == "malformed"


def test_an_account_id_must_be_its_keys() -> None:
    state, coop, member = rules.State(), Key("coop"), Key("member")
    rules.apply(state, *coop.open(notaries=_notaries(coop)))
    thief = Key("member")
    entry, _ = thief.open()
    forged = rules.Entry("open", member.id, 1, 1, entry.body)  # someone else's id, own key
    with pytest.raises(rules.Refused) as refused:
        rules.apply(
            state, forged, crypto.b64(thief.private.sign(crypto.ENTRY_PREFIX + forged.canonical()))
        )
    assert refused.value.reason == "malformed"


def test_a_non_canonical_entry_is_malformed() -> None:
    with pytest.raises(rules.Refused) as refused:
        rules.Entry.parse(
            b'{"v": 1, "kind": "transfer", "author": "m", "nonce": 1, "ts": 1, "body": {}}'
        )
    assert refused.value.reason == "malformed"


def test_only_the_cooperative_issues_and_redeems_and_only_credit_held() -> None:
    """Members and nodes have accounts; neither may issue or redeem; the cooperative redeems
    only what an account holds; every step keeps the sum at zero and each account above its
    limit."""
    state, coop, member, node = rules.State(), Key("coop"), Key("member"), Key("node")
    rules.apply(state, *coop.open(notaries=_notaries(coop)))
    rules.apply(state, *member.open())
    rules.apply(state, *node.open())
    assert {a.kind for a in state.accounts.values()} == {"coop", "member", "node"}
    for author in (member, node):
        for kind, body in (
            ("issue", {"to": member.id if author is node else node.id, "cents": 500}),
            ("redeem", {"from": member.id if author is node else node.id, "cents": 1}),
        ):
            with pytest.raises(rules.Refused) as refused:
                rules.apply(state, *author.entry(kind, body))
            assert refused.value.reason == "not_cooperative"
            author.nonce -= 1  # refused: the nonce was not used
    rules.apply(state, *coop.entry("issue", {"to": member.id, "cents": 500}))
    rules.apply(state, *member.entry("transfer", {"to": node.id, "cents": 200}))
    with pytest.raises(rules.Refused) as beyond:  # the node holds 200: 201 is beyond its limit
        rules.apply(state, *node.entry("transfer", {"to": member.id, "cents": 201}))
    assert beyond.value.reason == "insufficient"
    node.nonce -= 1
    with pytest.raises(rules.Refused) as debt:  # more than the member holds: never a debt
        rules.apply(state, *coop.entry("redeem", {"from": member.id, "cents": 301}))
    assert debt.value.reason == "insufficient"
    coop.nonce -= 1
    rules.apply(state, *coop.entry("redeem", {"from": member.id, "cents": 300}))
    balances = {a.kind: a.balance for a in state.accounts.values()}
    assert balances == {"coop": -200, "member": 0, "node": 200}
    assert rules.total(state) == 0

"""Several notaries: the finality rules (finality.py), a notary's votes (votes.py), and
`verify` and a replica over a ledger whose positions three notaries sign: final with two of
three, refused with one, with a forged co-signature or with one by a node that is not a
notary."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hameau.ledger import crypto, finality, journal, replica, rules, service, votes
from hameau.ledger.errors import ReplicaRefused
from hameau.ledger.models import LedgerSignature
from hameau.ledger.verify import verify
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import make_node
from tests.ledger.ledgers import hameau, small_ledger, sql


class Notary:
    """A notary's key, standing for another home (its signatures are made here)."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public = crypto.b64(raw)
        self.id = crypto.node_id(self.public)

    def sign(self, seq: int, entry_hash: str) -> tuple[str, str]:
        return self.id, crypto.b64(self.key.sign(crypto.position_message(seq, entry_hash)))


def test_a_majority_is_more_than_half() -> None:
    assert [finality.majority(n) for n in range(1, 7)] == [1, 2, 2, 3, 3, 4]


def test_final_needs_a_majority_of_good_signatures_by_notaries() -> None:
    a, b, c, outsider = Notary(), Notary(), Notary(), Notary()
    notaries = {n.id: n.public for n in (a, b, c)}
    h = "ab" * 32
    assert not finality.is_final(notaries, 7, h, [a.sign(7, h)])
    assert finality.is_final(notaries, 7, h, [a.sign(7, h), c.sign(7, h)])
    # Counted once each; an outsider's, another position's or another number's count for nothing.
    assert not finality.is_final(notaries, 7, h, [a.sign(7, h), a.sign(7, h)])
    assert not finality.is_final(notaries, 7, h, [a.sign(7, h), outsider.sign(7, h)])
    assert not finality.is_final(notaries, 7, h, [a.sign(7, h), b.sign(7, "cd" * 32)])
    assert not finality.is_final(notaries, 7, h, [a.sign(7, h), b.sign(8, h)])
    assert finality.forged(notaries, 7, h, [a.sign(7, h), outsider.sign(7, h)]) == outsider.id
    assert finality.forged(notaries, 7, h, [(b.id, a.sign(7, h)[1])]) == b.id
    assert finality.forged(notaries, 7, h, [a.sign(7, h), b.sign(7, h)]) is None
    assert not finality.is_final({}, 7, h, [])


def test_a_notary_votes_once_per_number(tmp_path: Path) -> None:
    node = make_node(tmp_path / "a")
    first = {"seq": 5, "entry": "{}", "signature": "s", "prev_hash": "0", "entry_hash": "1"}
    other = {**first, "entry_hash": "2"}
    assert votes.cast(node, first)["entry_hash"] == "1"
    assert votes.cast(node, other)["entry_hash"] == "1"  # never changed
    assert votes.cast(node, first)["entry_hash"] == "1"  # the same again: the same vote
    votes.cast(node, {**first, "seq": 6})
    assert [v["seq"] for v in votes.pending(node, 4)] == [5, 6]
    assert [v["seq"] for v in votes.pending(node, 5)] == [6]  # 5 is final: its vote is gone
    assert votes.held(node, 5) is None


def test_a_majority_counts_in_one_round_only(tmp_path: Path) -> None:
    """Signatures of different rounds never add up (a notary may vote again in a later
    round); a signature of one round does not verify as another's."""
    a, b, c = Notary(), Notary(), Notary()
    notaries = {n.id: n.public for n in (a, b, c)}
    h = "ab" * 32

    def signed(n: Notary, round: int) -> tuple[str, str, int]:
        message = crypto.position_message(7, h, round)
        return n.id, crypto.b64(n.key.sign(message)), round

    assert finality.is_final(notaries, 7, h, [signed(a, 2), signed(b, 2)])
    assert not finality.is_final(notaries, 7, h, [signed(a, 0), signed(b, 1)])
    assert finality.forged(notaries, 7, h, [(b.id, signed(b, 1)[1], 2)]) == b.id
    assert finality.proposer(notaries, 4) == finality.succession(notaries)[1]


def test_votes_keep_promises_and_refuse_a_second_position_in_a_round(tmp_path: Path) -> None:
    node = make_node(tmp_path / "a")
    x = {"seq": 5, "entry": "{}", "signature": "s", "prev_hash": "0", "entry_hash": "1"}
    y = {**x, "entry_hash": "2"}
    assert votes.accept(node, x, 1, "p", "n1")["entry_hash"] == "1"
    with pytest.raises(votes.Refused) as twice:
        votes.accept(node, y, 1, "q", "n1")
    assert twice.value.equivocation
    assert (node.layout.root / "ledger-votes" / "equivocations.jsonl").read_text().count("\n") == 1
    assert votes.promise(node, 5, 4)["accepted"]["position"]["entry_hash"] == "1"
    with pytest.raises(votes.Refused) as lower:
        votes.accept(node, y, 3)
    assert lower.value.promised == 4 and not lower.value.equivocation
    assert votes.accept(node, y, 4)["entry_hash"] == "2"  # a later round may vote again
    with pytest.raises(votes.Refused):
        votes.promise(node, 5, 2)


def _three(tmp_path: Path) -> tuple[Node, Notary, Notary]:
    """small_ledger (positions 1-6, one notary), then the cooperative names three notaries
    (position 7): this node and two others."""
    node, _ = small_ledger(tmp_path / "a")
    b, c = Notary(), Notary()
    named = {node.identity.node_id: node.identity.public_key_b64, b.id: b.public, c.id: c.public}
    with transaction(node.sessions) as session:
        coop = service.ensure_ledger(node, session)
        service.append(node, session, coop, "notaries", {"notaries": named})
    return node, b, c


def _pay(node: Node, cosigners: list[Notary], cents: int = 100) -> int:
    """alex pays sam, sealed by this node with the co-signatures of `cosigners`."""
    with transaction(node.sessions) as session:
        alex = service.find_account(session, "alex")
        sam = service.find_account(session, "sam")
        text, signature = journal.signed_entry(
            node, session, alex.id, "transfer", {"to": sam.id, "cents": cents}
        )
        found = journal.head(session)
        entry = rules.Entry.parse(text)
        state = journal.state_for(session, found, entry)
        rules.apply(state, entry, signature)
        seq = found.seq + 1
        entry_hash = crypto.position_hash(seq, found.entry_hash, text, signature)
        cosigned = tuple(
            LedgerSignature(seq=seq, notary=n, entry_hash=entry_hash, signature=s)
            for n, s in (c.sign(seq, entry_hash) for c in cosigners)
        )
        journal.seal(node, session, found, text, signature, entry, state, cosigned)
        journal._store(session, state)
        return seq


def _report(node: Node):  # type: ignore[no-untyped-def]
    with transaction(node.sessions) as session:
        return verify(session)


def test_two_of_three_signatures_make_a_position_final(tmp_path: Path) -> None:
    node, b, c = _three(tmp_path)
    assert _pay(node, [b]) == 8
    assert _pay(node, [c]) == 9
    assert _report(node).ok
    seq = _pay(node, [])  # signed by this notary alone: one of three
    report = _report(node)
    assert report.problem is not None and report.problem.seq == seq
    assert report.problem.reason == "notary" and "majority" in report.problem.message


def test_a_forged_cosignature_or_a_non_notarys_is_refused(tmp_path: Path) -> None:
    node, b, c = _three(tmp_path)
    _pay(node, [b, c])
    _pay(node, [b])
    assert _report(node).ok
    # A co-signature replaced by another position's (forged): refused, even beside a majority.
    sql(node, "UPDATE ledger_signatures SET signature = (SELECT signature FROM"
        " ledger_signatures WHERE seq = 9 AND notary = ?) WHERE seq = 8 AND notary = ?", b.id, c.id)  # fmt: skip
    report = _report(node)
    assert report.problem is not None and (report.problem.seq, report.problem.reason) == (
        8,
        "forged",
    )
    # One by a node that is not a notary, good as a signature: refused too.
    node2, b2, _c2 = _three(tmp_path / "second")
    outsider = Notary()
    seq = _pay(node2, [b2, outsider])
    report = _report(node2)
    assert report.problem is not None and (report.problem.seq, report.problem.reason) == (
        seq,
        "forged",
    )


def test_a_replica_refuses_a_position_made_final_by_a_forged_cosignature(tmp_path: Path) -> None:
    node, b, c = _three(tmp_path)
    _pay(node, [b])
    joiner = make_node(tmp_path / "joiner")
    with transaction(node.sessions) as session:
        page = replica.page_after(session, 0)
    forged = copy.deepcopy(page)
    cosig = next(s for s in forged["positions"][7]["signatures"] if s["notary"] == b.id)
    cosig["signature"] = c.sign(8, "ef" * 32)[1]  # c's key, another hash
    cosig["notary"] = c.id
    with transaction(joiner.sessions) as session, pytest.raises(ReplicaRefused) as refused:
        replica.accept_page(session, forged)
    assert "position 8" in str(refused.value) and "majority" in str(refused.value)
    with transaction(joiner.sessions) as session:
        assert replica.accept_page(session, page).head == 8
    assert _report(joiner).ok


def test_a_position_signed_here_but_not_final_is_shown_pending(tmp_path: Path) -> None:
    node, b, _c = _three(tmp_path)
    with transaction(node.sessions) as session:
        alex = service.find_account(session, "alex")
        sam = service.find_account(session, "sam")
        text, signature = journal.signed_entry(
            node, session, alex.id, "transfer", {"to": sam.id, "cents": 125, "memo": "bread"}
        )
        found = journal.head(session)
        seq = found.seq + 1
        entry_hash = crypto.position_hash(seq, found.entry_hash, text, signature)
    # This notary voted it (as a co-signer would): it is pending until a majority signs it.
    votes.cast(node, {"seq": seq, "entry": text.decode(), "signature": signature,
                      "prev_hash": found.entry_hash, "entry_hash": entry_hash})  # fmt: skip
    done = hameau("ledger", "history", "alex", "--data-dir", str(node.layout.root))
    assert done.returncode == 0, done.stderr
    first, *rest = done.stdout.splitlines()
    assert f"#{seq}" in first and "pending" in first and "bread" in first
    assert rest and all(" final " in line for line in rest)
    assert _report(node).ok  # a pending position binds nobody: the ledger is the final one
    _pay(node, [b])  # the number is taken by a final position: the pending one is gone
    with transaction(node.sessions) as session:
        assert service.pending(node, session, service.find_account(session, "alex")) == []

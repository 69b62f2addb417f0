"""`hameau ledger verify` on a sound ledger, then on ledgers damaged in the database file in
each way the issue names: it says at which position and why, and exits 1."""

from __future__ import annotations

from pathlib import Path

from hameau.ledger.models import LedgerEntry
from hameau.node.db import transaction
from tests.ledger.ledgers import forge, hameau, signed, small_ledger, sql


def _verify(node, *expected: str) -> str:  # type: ignore[no-untyped-def]
    node.close()
    done = hameau("ledger", "verify", "--data-dir", str(node.layout.root))
    assert done.returncode == 1, done.stdout + done.stderr
    said = done.stderr.strip()
    assert len(said.splitlines()) == 1, said
    for part in expected:
        assert part in said, said
    return said


def test_a_sound_ledger_verifies(tmp_path: Path) -> None:
    node, _ = small_ledger(tmp_path / "node")
    node.close()
    done = hameau("ledger", "verify", "--data-dir", str(node.layout.root))
    assert done.returncode == 0, done.stderr
    assert "6 positions" in done.stdout and "sound" in done.stdout


def test_a_changed_amount_is_a_tampered_entry(tmp_path: Path) -> None:
    node, _ = small_ledger(tmp_path / "node")
    sql(
        node,
        "UPDATE ledger_entries SET entry = replace(entry, '\"cents\":300', '\"cents\":30') WHERE seq = 5",
    )
    _verify(node, "position 5:", "tampered entry", "hash does not match")


def test_a_rehashed_and_renotarised_change_fails_the_authors_signature(tmp_path: Path) -> None:
    """The notary itself rewrites the last transfer (hash and its own signature redone): the
    payer's signature no longer matches."""
    node, accounts = small_ledger(tmp_path / "node")
    sql(node, "DELETE FROM ledger_entries WHERE seq = 6")
    sql(node, "DELETE FROM ledger_signatures WHERE seq = 6")
    sql(
        node,
        "UPDATE ledger_head SET seq = 5, entry_hash = (SELECT entry_hash FROM ledger_entries WHERE seq = 5)",
    )
    sql(node, "UPDATE ledger_accounts SET nonce = nonce - 1 WHERE id = ?", accounts["alex"])
    text, signature = signed(
        node, accounts["alex"], "transfer", {"to": accounts["sam"], "cents": 100}
    )
    changed = text.replace(b'"cents":100', b'"cents":1')
    forge(node, changed, signature)
    _verify(node, "position 6:", "tampered entry", "not signed by " + accounts["alex"])


def test_a_changed_previous_hash_is_a_broken_link(tmp_path: Path) -> None:
    node, _ = small_ledger(tmp_path / "node")
    sql(node, "UPDATE ledger_entries SET prev_hash = ? WHERE seq = 4", "ab" * 32)
    _verify(node, "position 4:", "broken link")


def test_two_entries_at_one_position_are_a_fork(tmp_path: Path) -> None:
    node, _ = small_ledger(tmp_path / "node")
    columns = "seq, entry, signature, prev_hash, entry_hash, kind, author, nonce, ts, recorded_at"
    sql(
        node,
        f"INSERT INTO ledger_entries ({columns}) SELECT {columns} FROM ledger_entries WHERE seq = 3",  # noqa: S608 (fixed names)
    )
    _verify(node, "position 3:", "fork")


def test_a_missing_position_is_found(tmp_path: Path) -> None:
    node, _ = small_ledger(tmp_path / "node")
    sql(node, "DELETE FROM ledger_entries WHERE seq = 4")
    _verify(node, "position 5:", "position 4 is missing")


def test_spending_beyond_the_limit_is_a_double_spend(tmp_path: Path) -> None:
    """Alex holds 14,50 €; a notary that seals a 15 € payment anyway is caught."""
    node, accounts = small_ledger(tmp_path / "node")
    forge(node, *signed(node, accounts["alex"], "transfer", {"to": accounts["sam"], "cents": 1500}))
    _verify(node, "position 7:", "double spend", "below its limit")


def test_an_entry_sealed_twice_is_a_replay(tmp_path: Path) -> None:
    node, _ = small_ledger(tmp_path / "node")
    with transaction(node.sessions) as session:
        fifth = session.query(LedgerEntry).filter_by(seq=5).one()
        text, signature = fifth.entry.encode(), fifth.signature
    forge(node, text, signature)
    _verify(node, "position 7:", "replayed entry")


def test_an_entry_ahead_of_its_authors_nonce_is_reordered(tmp_path: Path) -> None:
    node, accounts = small_ledger(tmp_path / "node")
    forge(
        node,
        *signed(
            node, accounts["alex"], "transfer", {"to": accounts["sam"], "cents": 1}, nonce_step=2
        ),
    )
    _verify(node, "position 7:", "reordered entry")


def test_a_balance_changed_beside_the_journal_is_found(tmp_path: Path) -> None:
    node, accounts = small_ledger(tmp_path / "node")
    sql(node, "UPDATE ledger_accounts SET balance = balance + 10000 WHERE id = ?", accounts["sam"])
    _verify(node, "stored balance", accounts["sam"])


def test_a_removed_notary_signature_is_found(tmp_path: Path) -> None:
    node, _ = small_ledger(tmp_path / "node")
    sql(node, "DELETE FROM ledger_signatures WHERE seq = 2")
    _verify(node, "position 2:", "not signed by a majority of the notaries")

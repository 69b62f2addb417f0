"""`hameau ledger` as a person types it: amounts in euros with a comma or a point, the
cooperative's commands, and one line with exit 1 for what cannot be done."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import add_member, make_node
from tests.ledger.ledgers import hameau


def _home(tmp_path: Path) -> str:
    node = make_node(tmp_path / "node")
    add_member(node, "alex", admin=True)
    add_member(node, "sam")
    node.close()
    return str(node.layout.root)


def _ok(*args: str) -> str:
    done = hameau("ledger", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _refused(*args: str) -> str:
    done = hameau("ledger", *args)
    assert done.returncode != 0, done.stdout
    said = done.stderr.strip()
    assert len(said.splitlines()) == 1, said
    return said


def test_issue_transfer_balance_history_and_verify(tmp_path: Path) -> None:
    home = _home(tmp_path)
    _ok("issue", "alex", "20", "--data-dir", home)
    said = _ok("transfer", "alex", "sam", "12,50", "--memo", "bread", "--data-dir", home)
    assert "12,50" in said and "7,50" in said
    _ok("transfer", "alex", "sam", "2.25", "--data-dir", home)
    assert "5,25" in _ok("balance", "alex", "--data-dir", home)
    assert "14,75" in _ok("balance", "sam", "--data-dir", home)
    history = _ok("history", "sam", "--data-dir", home)
    assert "bread" in history and "transfer" in history
    assert "sound" in _ok("verify", "--data-dir", home)


def test_a_payment_beyond_the_credit_is_refused_until_the_limit_allows_it(tmp_path: Path) -> None:
    home = _home(tmp_path)
    assert "Not enough credit" in _refused("transfer", "sam", "alex", "1", "--data-dir", home)
    _ok("limit", "sam", "10", "--data-dir", home)
    _ok("transfer", "sam", "alex", "10,00", "--data-dir", home)
    assert "−10,00" in _ok("balance", "sam", "--data-dir", home)
    assert "Not enough credit" in _refused("transfer", "sam", "alex", "0,01", "--data-dir", home)
    # a limit below the debt is refused: no account may end up below its limit
    assert "Not enough credit" in _refused("limit", "sam", "5", "--data-dir", home)
    _ok("redeem", "alex", "4", "--data-dir", home)
    assert "Not enough credit" in _refused("redeem", "alex", "7", "--data-dir", home)
    assert "sound" in _ok("verify", "--data-dir", home)


def test_unreadable_amounts_and_unknown_members_say_what_to_do(tmp_path: Path) -> None:
    home = _home(tmp_path)
    for amount in ("12,505", "-3", "0", "douze", "1e3"):
        said = _refused("transfer", "--data-dir", home, "alex", "sam", "--", amount)
        assert "in euros" in said
    assert "No member nobody" in _refused("transfer", "alex", "nobody", "1", "--data-dir", home)

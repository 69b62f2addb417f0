"""Two writers at one home store the same final position at once (a notary's nudge makes the
server pull while a payment's own pull runs, or a co-signer is sent the positions it lacks):
the one that read the head before the other stored, and the accounts after, must not take the
position's own effect for what came before it. It was refused as a replay ("sent nonce 3
after 3": tests/e2e/test_ledger_rounds.py failed so); it is held, and nothing is refused.

The interleaving is forced, not hoped for: the second writer stores and commits at the moment
the first reads its first account row (a hook on the database driver, nothing of ours faked).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from hameau.hamlet.models import HamletPeer
from hameau.ledger import acceptor, crypto, finality, journal, rules, service, votes
from hameau.ledger.models import LedgerAccount
from hameau.ledger.verify import verify
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import make_node
from tests.ledger.ledgers import small_ledger
from tests.ledger.test_finality import _three
from tests.ledger.test_replica import _page, _take


@contextmanager
def _meanwhile(node: Node, work: Callable[[], Any]) -> Iterator[list[Any]]:
    """Run `work` (another writer, its own connection, committed) once, the first time this
    node's database is asked for an account row."""
    done: list[Any] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not done and "FROM ledger_accounts" in statement:
            done.append(None)
            done[0] = work()

    event.listen(node.engine, "before_cursor_execute", before)
    try:
        yield done
    finally:
        event.remove(node.engine, "before_cursor_execute", before)


def _state(node: Node) -> tuple[int, dict[str, tuple[int, int]]]:
    with transaction(node.sessions) as session:
        report = verify(session)
        assert report.ok, report.problem
        found = journal.head(session)
        accounts = {a.id: (a.balance, a.nonce) for a in session.query(LedgerAccount)}
        return found.seq if found else 0, accounts


def test_a_position_stored_meanwhile_by_another_pull_is_held_not_refused(tmp_path: Path) -> None:
    notary, names = small_ledger(tmp_path / "a")  # position 6: alex's second payment, nonce 3
    home = make_node(tmp_path / "b")
    first = _page(notary, 0)
    assert _take(home, {"positions": first["positions"][:5]}).head == 5
    last = _page(notary, 5)
    assert rules.Entry.parse(last["positions"][0]["entry"].encode()).author == names["alex"]
    # The home pulls 6 while its other writer pulls and stores the same 6.
    with _meanwhile(home, lambda: _take(home, last)) as other:
        pulled = _take(home, last)
    assert other and other[0].stored == 1  # the other writer did store position 6 meanwhile
    assert (pulled.stored, pulled.held, pulled.head) == (0, 1, 6)
    assert _state(home) == _state(notary)


def test_a_notary_asked_to_cosign_what_it_stored_meanwhile_says_it_is_ahead(
    tmp_path: Path,
) -> None:
    """Notaries A (this home), B and C. B, proposing, asks A to co-sign alex's payment at 8,
    which a majority made final already; A's server stores it (a nudge's pull) while A checks
    it. A answers that it holds 8 (B pulls from it), and signs nothing."""
    node, b, c = _three(tmp_path)
    with transaction(node.sessions) as session:
        alex = service.find_account(session, "alex")
        sam = service.find_account(session, "sam")
        text, signature = journal.signed_entry(
            node, session, alex.id, "transfer", {"to": sam.id, "cents": 100}
        )
        found = journal.head(session)
        notaries = json.loads(found.notaries)
        seq, prev = found.seq + 1, found.entry_hash
    entry_hash = crypto.position_hash(seq, prev, text, signature)
    position = {"seq": seq, "entry": text.decode(), "signature": signature,
                "prev_hash": prev, "entry_hash": entry_hash}  # fmt: skip
    final = {**position, "signatures": [
        {"notary": n.id, "entry_hash": entry_hash, "signature": n.sign(seq, entry_hash)[1],
         "round": 0} for n in (b, c)]}  # fmt: skip
    round = next(r for r in range(3) if finality.proposer(notaries, r) == b.id)
    proposal = crypto.b64(b.key.sign(crypto.proposal_message(seq, round, entry_hash)))
    asked = {**position, "round": round, "proposal": proposal}
    proposer = HamletPeer(node_id=b.id, name="B", address="", public_key=b.public)
    meanwhile = _meanwhile(node, lambda: _take(node, {"positions": [final]}))
    with meanwhile as other, node.sessions() as session:
        answer = acceptor.cosign(node, session, proposer, asked)
    assert other and other[0].stored == 1
    assert answer == {"refused": "ahead", "head": seq}
    assert votes.held(node, seq) is None  # no vote, no signature: it was final already
    with transaction(node.sessions) as session:
        assert verify(session).ok

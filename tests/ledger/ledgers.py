"""What the ledger tests share: a node with a small ledger, the CLI, and a dishonest notary."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from hameau.ledger import crypto, journal, rules, service
from hameau.ledger.models import LedgerAccount
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, make_node


def hameau(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hameau", *args], capture_output=True, text=True, timeout=300
    )


def small_ledger(root: Path) -> tuple[Node, dict[str, str]]:
    """Alex gets 20 € from the cooperative, pays Sam 3 € then 2,50 €: positions 1 to 6
    (the cooperative's opening, alex's, the issue, sam's opening, two transfers)."""
    node = make_node(root)
    add_member(node, "alex", admin=True)
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        from hameau.accounts import members

        alex = service.member_account(node, session, members.find_member(session, "alex"))
        service.issue(node, session, alex, 2000)
        sam = service.member_account(node, session, members.find_member(session, "sam"))
        service.transfer(node, session, alex, sam, 300)
        service.transfer(node, session, alex, sam, 250)
        return node, {"alex": alex.id, "sam": sam.id}


def forge(node: Node, text: bytes, signature: str) -> int:
    """Seal a signed entry at the next position without the rules (what a dishonest notary
    could do); returns its position."""
    with transaction(node.sessions) as session:
        entry = rules.Entry.parse(text)
        found = journal.head(session)
        state = journal._state(session, found, entry)
        return journal.seal(node, session, found, text, signature, entry, state).seq


def signed(
    node: Node, author: str, kind: str, body: dict, nonce_step: int = 1
) -> tuple[bytes, str]:
    """An entry signed by `author`'s key (held by the node), `nonce_step` after its last."""
    with transaction(node.sessions) as session:
        account = session.get(LedgerAccount, author)
        assert account is not None
        found = journal.head(session)
        assert found is not None
        entry = rules.Entry(kind, author, account.nonce + nonce_step, found.last_ts, body)
        text = entry.canonical()
        signature = journal.signer(node, session, author)(crypto.ENTRY_PREFIX + text)
        return text, crypto.b64(signature)


def sql(node: Node, statement: str, *params: object) -> None:
    """Damage the database file directly, as a disk or a person with the file would (on
    PostgreSQL, past the node's code, through the server)."""
    if node.engine.dialect.name != "sqlite":
        from hameau.node.reading import execute

        with node.engine.begin() as connection:
            execute(connection, statement, params)
        return
    with sqlite3.connect(node.layout.database) as connection:
        connection.execute(statement, params)

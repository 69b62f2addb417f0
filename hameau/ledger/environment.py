"""The ledger's part of a member's environment: their key and account, so moving home keeps it.

    ledger/account.json   the account's id, public key and, for reading, its balance, limit
                          and the ledger's head where it was exported
    ledger/key.json       the member's Ed25519 private key (raw, base64): whoever holds it
                          signs for the account, so the archive is as secret as the member's
                          password

Import keeps the key for the member (idempotent), so the account they open or use on the new
home server is the same account: same key, same id. Paired homes replicate the hamlet's one
ledger: the new home finds the account there, with its balance (tests/e2e/test_moving.py).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.ledger import crypto, journal, keys
from hameau.ledger.models import LedgerAccount, LedgerEntry
from hameau.node.datadir import Node
from hameau.node.environment import ArchiveReader, ArchiveWriter, Usage, damaged

ACCOUNT = "ledger/account.json"
KEY = "ledger/key.json"


def export(node: Node, session: Session, member: Member, archive: ArchiveWriter) -> None:
    kept = keys.of_member(session, member.id)
    if kept is None:
        return
    raw = keys.raw_key(node, kept)
    row = session.get(LedgerAccount, kept.account)
    found = journal.head(session)
    archive.add_json(
        ACCOUNT,
        {"account": kept.account, "kind": kept.kind,
         "public_key": keys.public_of(keys.private(node, kept)),
         "balance_cents": row.balance if row else 0, "limit_cents": row.limit if row else 0,
         "ledger_seq": found.seq if found else 0, "ledger_hash": found.entry_hash if found else ""},
    )  # fmt: skip
    archive.add_json(KEY, {"account": kept.account, "private_key": crypto.b64(raw)})


def import_(
    node: Node, session: Session, member: Member, archive: ArchiveReader, replace: bool = False
) -> None:
    # `replace` (a move's commit) changes nothing here: the key is the member's, whichever way.
    if not archive.has(KEY):
        return
    record = archive.read_json(KEY, {})
    try:
        raw = crypto.unb64(str(record.get("private_key", "")))
    except ValueError:
        raise damaged("the ledger key is not base64") from None
    if len(raw) != 32:
        raise damaged("the ledger key is not an Ed25519 key")
    current = keys.of_member(session, member.id)
    kept = keys.keep(node, session, raw, "member", member.name)
    if kept.account != record.get("account"):
        raise damaged("the ledger key does not match its account")
    if current is not None and current.account != kept.account:
        current.member_id = None  # the carried account is the member's from now on
        session.flush()
    kept.member_id = member.id
    session.flush()


def usage(node: Node, session: Session, member: Member) -> Usage:
    kept = keys.of_member(session, member.id)
    if kept is None:
        return Usage()
    entries = session.execute(
        select(
            func.count(LedgerEntry.id), func.coalesce(func.sum(func.length(LedgerEntry.entry)), 0)
        ).where(LedgerEntry.author == kept.account)
    ).one()
    return Usage(int(entries[1]) + len(kept.sealed), int(entries[0]) + 1)

"""`hameau ledger`: balances, history, transfers and verifying the whole ledger; and the
cooperative's commands (limit, issue, redeem, accounts). Amounts are in euros ("12,50")."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from hameau.node.cli import console, data_dir_option, node_session

ledger_app = click.Group(
    "ledger",
    help="The hamlet's credit: balances, history, transfers, verifying the ledger.",
    no_args_is_help=True,
)


def _account(node, session, name: str):  # type: ignore[no-untyped-def]
    """A member of this node (their account opened on first use) or an account id."""
    from hameau.ledger import remote, service

    remote.fresh(node, session)  # a replica reads what its notary sealed since
    return service.recipient(node, session, name)


def _nudge(data_dir: Path | None) -> None:
    """Once committed: the paired homes are told to pull (nudges.py); none paired, nothing."""
    from hameau.ledger import nudges
    from hameau.node import datadir
    from hameau.node.cli import settings_for

    node = datadir.open_node(settings_for(data_dir))
    try:
        nudges.send(node)
    finally:
        node.close()


@ledger_app.command("balance")
@click.argument("member")
@data_dir_option
def balance(member: str, data_dir: Path | None) -> None:
    """A member's (or account's) balance and credit limit."""
    from hameau.ledger import service

    with node_session(data_dir) as (node, session):
        account = _account(node, session, member)
        console.print(
            f"{account.label} ({account.id}): {service.euros(account.balance)},"
            f" limit {service.euros(-account.limit if account.limit is not None else None)}."
        )
    _nudge(data_dir)


@ledger_app.command("history")
@click.argument("member")
@click.option("--last", default=50, show_default=True, help="How many entries, newest first.")
@data_dir_option
def history(member: str, last: int, data_dir: Path | None) -> None:
    """A member's entries, newest first: final (signed by a majority of the notaries) or
    pending (signed here, not yet by a majority)."""
    from hameau.ledger import service

    with node_session(data_dir) as (node, session):
        account = _account(node, session, member)
        lines = service.pending(node, session, account) + service.history(session, account, last)
        for line in lines[:last]:
            when = datetime.fromtimestamp(line.ts, UTC).strftime("%Y-%m-%d %H:%M")
            amount = service.euros(line.cents) if line.cents else ""
            status = "final" if line.final else "pending"
            click.echo(
                f"#{line.seq}  {status:<7}  {when}  {line.kind:<15} {amount:>14}  {line.other}"
                f" {line.memo}"
            )


@ledger_app.command("transfer")
@click.argument("payer")
@click.argument("recipient")
@click.argument("amount")
@click.option("--memo", default="", help="A few words the recipient sees.")
@data_dir_option
def transfer(payer: str, recipient: str, amount: str, memo: str, data_dir: Path | None) -> None:
    """Pay AMOUNT euros (e.g. 12,50) from member PAYER to member RECIPIENT."""
    from hameau.ledger import service

    cents = service.parse_euros(amount)
    with node_session(data_dir) as (node, session):
        source = _account(node, session, payer)
        target = _account(node, session, recipient)
        position = service.transfer(node, session, source, target, cents, memo)
        console.print(
            f"Paid {service.euros(cents)} to {target.label} (position {position.seq});"
            f" {source.label}'s balance: {service.euros(source.balance)}."
        )
    _nudge(data_dir)


@ledger_app.command("verify")
@data_dir_option
def verify(data_dir: Path | None) -> None:
    """Recompute the whole ledger from its first entry; exit 1 where it breaks."""
    from hameau.ledger.verify import verify as recompute

    with node_session(data_dir) as (_node, session):
        report = recompute(session)
    if report.problem is not None:
        print(
            f"Error: the ledger breaks at {report.problem.message}. Nothing after it can be"
            " trusted: restore the database from a backup (or a replica) and verify again.",
            file=sys.stderr,
        )
        sys.exit(1)
    console.print(
        f"The ledger is sound: {report.positions} positions, {len(report.state.accounts)}"
        " accounts, balances summing to zero, every limit held."
    )


@ledger_app.command("accounts")
@data_dir_option
def accounts(data_dir: Path | None) -> None:
    """Every account: kind, label, balance, limit."""
    from hameau.ledger import service

    with node_session(data_dir) as (_node, session):
        for row in service.accounts(session):
            limit = service.euros(-row.limit if row.limit is not None else None)
            click.echo(
                f"{row.id}  {row.kind:<6} {row.label:<20} {service.euros(row.balance):>14}  limit {limit}"
            )


def _cooperative(action: str, name: str, amount: str, data_dir: Path | None) -> None:
    from hameau.ledger import service

    cents = (
        service.parse_euros(amount)
        if action != "limit" or amount.strip() not in ("0", "0,00")
        else 0
    )
    with node_session(data_dir) as (node, session):
        account = _account(node, session, name)
        done = {"limit": service.set_limit, "issue": service.issue, "redeem": service.redeem}[
            action
        ]
        position = done(node, session, account, cents)
        console.print(
            f"Position {position.seq}: {account.label}'s balance {service.euros(account.balance)},"
            f" limit {service.euros(-account.limit if account.limit is not None else None)}."
        )


@ledger_app.command("limit")
@click.argument("member")
@click.argument("amount")
@data_dir_option
def limit(member: str, amount: str, data_dir: Path | None) -> None:
    """The cooperative sets how far below zero MEMBER may go, in euros (0: not at all)."""
    _cooperative("limit", member, amount, data_dir)


@ledger_app.command("issue")
@click.argument("member")
@click.argument("amount")
@data_dir_option
def issue(member: str, amount: str, data_dir: Path | None) -> None:
    """The cooperative issues AMOUNT euros of credit to MEMBER (against euros received)."""
    _cooperative("issue", member, amount, data_dir)


@ledger_app.command("redeem")
@click.argument("member")
@click.argument("amount")
@data_dir_option
def redeem(member: str, amount: str, data_dir: Path | None) -> None:
    """The cooperative redeems AMOUNT euros of MEMBER's credit (paid out in euros)."""
    _cooperative("redeem", member, amount, data_dir)


@ledger_app.command("notaries")
@click.argument("homes", nargs=-1)
@data_dir_option
def notaries(homes: tuple[str, ...], data_dir: Path | None) -> None:
    """The ledger's notaries; with HOMES (this home's name or paired homes'), the cooperative
    names them (with three or more, an entry is final once most of them signed it)."""
    from hameau.ledger import finality, service

    with node_session(data_dir) as (node, session):
        if homes:
            from hameau.ledger import remote

            remote.fresh(node, session)
            position = service.set_notaries(node, session, list(homes))
            console.print(f"Position {position.seq}: the notaries are named.")
        named = service.notaries(session)
        names = {i: n for i, n, _ in service.notary_candidates(node, session)}
        for notary in finality.succession(named):
            click.echo(f"{notary}  {names.get(notary, '?')}")
        click.echo(f"final with {finality.majority(len(named))} of {len(named)} signatures")
    if homes:
        _nudge(data_dir)


@ledger_app.command("sync")
@click.argument("peer", required=False)
@data_dir_option
def sync(peer: str | None, data_dir: Path | None) -> None:
    """Pull the hamlet's ledger from PEER (by default its notary), verifying every position."""
    from hameau.ledger import pull
    from hameau.node import datadir
    from hameau.node.cli import settings_for

    node = datadir.open_node(settings_for(data_dir))
    try:
        pulled = pull.sync(node, peer)
    finally:
        node.close()
    console.print(
        f"The ledger is at position {pulled.head}: {pulled.stored} new positions verified and"
        " stored."
    )

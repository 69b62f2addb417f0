"""`hameau ai lend`: what this node's AI lends to each peer (open or closed, requests a day,
which models), what each used, and the log of their requests."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from hameau.ai import lending as ai_lending
from hameau.errors import BadRequest
from hameau.hamlet import service
from hameau.hamlet.models import HamletPeer
from hameau.node.cli import console, node_session
from hameau.node.cli_typer import DataDirOption
from hameau.node.datadir import Node


def _models(node: Node, given: str) -> list[str]:
    """The models named, each checked against this node's own when it runs them itself."""
    from hameau.ai import catalog

    names = [name.strip() for name in given.split(",") if name.strip()]
    if not node.settings.ai_backend_url:  # the household's AI server knows its own models
        known = {model.name for model in catalog.available(node)}
        for name in names:
            if name not in known:
                raise BadRequest(
                    "No model called %(name)s on this home server; see `hameau ai models`.",
                    name=name,
                )
    return names


def _policies(db: Session) -> None:
    table = Table("peer", "AI", "models", "per day", "today", "tokens today", "CPU s today")
    for peer in service.peers(db):
        if peer.revoked_at is not None:
            continue
        policy = ai_lending.policy_of(db, peer)
        used = ai_lending.usage(db, peer, days=1)
        today = used[0] if used and used[0].day == ai_lending.today() else None
        table.add_row(
            peer.name, "open" if policy.open else "closed", ", ".join(policy.models) or "-",
            str(policy.per_day) if policy.open else "-", str(today.requests if today else 0),
            f"{today.prompt_tokens} + {today.completion_tokens}" if today else "0",
            f"{today.cpu_seconds:.1f}" if today else "0",
        )  # fmt: skip
    console.print(table)


def _log(db: Session, peer: HamletPeer | None) -> None:
    names = {found.id: found.name for found in service.peers(db)}
    table = Table("when", "peer", "pseudonym", "model", "tokens", "CPU s", "question")
    for asked in ai_lending.log(db, peer):
        question = ai_lending.question_of(asked.prompt)[-120:]
        table.add_row(
            f"{asked.created_at:%Y-%m-%d %H:%M}", names.get(asked.peer_id, "?"), asked.pseudonym,
            asked.model, f"{asked.prompt_tokens} + {asked.completion_tokens}",
            f"{asked.cpu_seconds:.2f}", question,
        )  # fmt: skip
    console.print(table)


def _usage(db: Session, peer: HamletPeer | None) -> None:
    names = {found.id: found.name for found in service.peers(db)}
    table = Table("day (UTC)", "peer", "requests", "prompt tokens", "completion tokens", "CPU s")
    for used in ai_lending.usage(db, peer):
        table.add_row(used.day, names.get(used.peer_id, "?"), str(used.requests),
                      str(used.prompt_tokens), str(used.completion_tokens),
                      f"{used.cpu_seconds:.2f}")  # fmt: skip
    console.print(table)


def lend(
    peer: Annotated[str | None, typer.Argument(help="The peer's name or node id.")] = None,
    open_: Annotated[
        bool | None,
        typer.Option("--open/--close", help="Open this node's AI to the peer, or close it."),
    ] = None,
    per_day: Annotated[
        int | None, typer.Option(min=0, help="Requests the peer may make a day (UTC).")
    ] = None,
    models: Annotated[
        str | None, typer.Option(help="Models open to the peer, e.g. gemma-3-270m,other.")
    ] = None,
    show_log: Annotated[bool, typer.Option("--log", help="Show the peers' requests.")] = False,
    show_usage: Annotated[
        bool, typer.Option("--usage", help="Show what each peer used, per day.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Lend this node's AI to a peer (closed until opened): `ai lend PEER --open --per-day 20
    --models gemma-3-270m`; without a peer, what each peer may ask and used today."""
    with node_session(data_dir) as (node, db):
        found = service.find(db, peer) if peer else None
        if found is not None and (open_, per_day, models) != (None, None, None):
            chosen = _models(node, models) if models is not None else None
            policy = ai_lending.set_policy(
                db, found, open_=open_, per_day=per_day, models=chosen,
                default_models=(node.settings.ai_model,),
            )  # fmt: skip
            if policy.open:
                console.print(
                    f"This node's AI is open to [bold]{found.name}[/bold]:"
                    f" {', '.join(policy.models)}, {policy.per_day} requests a day."
                )
            else:
                console.print(f"This node's AI is closed to [bold]{found.name}[/bold].")
        elif show_log:
            _log(db, found)
        elif show_usage:
            _usage(db, found)
        else:
            _policies(db)

"""The AI this node lends to its peers: each peer's policy (closed by default; open to chosen
models, so many requests a day), the checks a peer's request passes before it reaches the
engine, and what is kept of it: the lender's log (the peer and a pseudonym, never a member's
name) and the usage per peer per day (requests, tokens, CPU seconds) for the coming ledger.

Plain functions over a database session; the route is `hameau.ai.lending_api`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hameau.ai.lending_models import DEFAULT_PER_DAY, HamletAIPolicy, HamletAIRequest, HamletAIUsage
from hameau.errors import Forbidden, TooManyRequests
from hameau.hamlet.models import HamletPeer
from hameau.node.engine import insert_for

KEPT_CHARACTERS = 8000


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def policy_of(db: Session, peer: HamletPeer) -> HamletAIPolicy:
    """The peer's policy; a closed one (not stored) if its admin never set one."""
    found = db.scalars(select(HamletAIPolicy).where(HamletAIPolicy.peer_id == peer.id)).first()
    return found or HamletAIPolicy(peer_id=peer.id, open=False, per_day=0, models=[])


def set_policy(
    db: Session,
    peer: HamletPeer,
    *,
    open_: bool | None = None,
    per_day: int | None = None,
    models: list[str] | None = None,
    default_models: tuple[str, ...] = (),
) -> HamletAIPolicy:
    """Change what is given; what is not said stays. Opening without models opens
    `default_models` (the node's default model) if none were chosen before."""
    found = db.scalars(select(HamletAIPolicy).where(HamletAIPolicy.peer_id == peer.id)).first()
    if found is None:
        found = HamletAIPolicy(peer_id=peer.id, open=False, per_day=DEFAULT_PER_DAY, models=[])
        db.add(found)
    if open_ is not None:
        found.open = open_
    if per_day is not None:
        found.per_day = per_day
    if models is not None:
        found.models = list(dict.fromkeys(models))
    if found.open and not found.models:
        found.models = list(default_models)
    found.changed_at = datetime.now(UTC)
    db.flush()
    return found


def _usage_row(db: Session, peer_id: int, day: str) -> Any:
    """An UPDATE of the peer's usage row for the day, to complete (the row made first if
    missing, by whichever request or process counts first). Counts are added by the
    database (`requests = requests + 1`): two processes counting at once lose neither."""
    insert = insert_for(db.get_bind().dialect.name)
    db.execute(
        insert(HamletAIUsage)
        .values(peer_id=peer_id, day=day, requests=0, prompt_tokens=0, completion_tokens=0,
                cpu_seconds=0.0)
        .on_conflict_do_nothing(index_elements=["peer_id", "day"])
    )  # fmt: skip
    where = (HamletAIUsage.peer_id == peer_id, HamletAIUsage.day == day)
    return update(HamletAIUsage).where(*where).execution_options(synchronize_session=False)


@dataclass(frozen=True)
class Offer:
    """What a peer may ask of this node's AI, as told to it."""

    models: list[str]
    per_day: int
    left_today: int


def offer_to(db: Session, peer: HamletPeer) -> Offer:
    policy = policy_of(db, peer)
    if not policy.open:
        return Offer([], 0, 0)
    used = db.scalar(
        select(HamletAIUsage.requests).where(
            HamletAIUsage.peer_id == peer.id, HamletAIUsage.day == today()
        )
    )
    return Offer(list(policy.models), policy.per_day, max(policy.per_day - (used or 0), 0))


def admit(db: Session, peer: HamletPeer, model: str) -> None:
    """Count one request of the peer for today, or refuse it: 403 if the AI is not open to it
    or not with this model, 429 once its requests for the day are used."""
    policy = policy_of(db, peer)
    if not policy.open:
        raise Forbidden("This home's AI is not open to your home; ask its admin to open it.")
    if model not in policy.models:
        raise Forbidden(
            "The model %(model)s is not open to your home here; models open to it: %(models)s.",
            model=model,
            models=", ".join(policy.models) or "-",
        )
    counting = _usage_row(db, peer.id, today())
    counted = db.execute(  # the limit checked in the same statement: no request past it
        counting.where(HamletAIUsage.requests < policy.per_day).values(
            requests=HamletAIUsage.requests + 1
        )
    )
    if counted.rowcount == 0:  # type: ignore[attr-defined]
        raise TooManyRequests(
            "Your home has used its %(count)s requests for today to this home's AI; ask again"
            " tomorrow (UTC).",
            count=policy.per_day,
        )


@dataclass
class Lent:
    """One answered request, as the lender logs and counts it."""

    peer_id: int
    pseudonym: str
    model: str
    prompt: str
    answer: str
    prompt_tokens: int
    completion_tokens: int
    cpu_seconds: float
    seconds: float


def record(db: Session, lent: Lent) -> None:
    """The request in the lender's log, and its tokens and CPU time in the peer's usage."""
    db.add(
        HamletAIRequest(
            peer_id=lent.peer_id, pseudonym=lent.pseudonym, model=lent.model,
            prompt=lent.prompt[:KEPT_CHARACTERS], answer=lent.answer[:KEPT_CHARACTERS],
            prompt_tokens=lent.prompt_tokens, completion_tokens=lent.completion_tokens,
            cpu_seconds=lent.cpu_seconds, duration_ms=round(lent.seconds * 1000),
        )
    )  # fmt: skip
    db.execute(
        _usage_row(db, lent.peer_id, today()).values(
            prompt_tokens=HamletAIUsage.prompt_tokens + lent.prompt_tokens,
            completion_tokens=HamletAIUsage.completion_tokens + lent.completion_tokens,
            cpu_seconds=HamletAIUsage.cpu_seconds + lent.cpu_seconds,
        )
    )


def log(db: Session, peer: HamletPeer | None = None, limit: int = 50) -> list[HamletAIRequest]:
    statement = select(HamletAIRequest).order_by(HamletAIRequest.id.desc()).limit(limit)
    if peer is not None:
        statement = statement.where(HamletAIRequest.peer_id == peer.id)
    return list(db.scalars(statement))


def usage(db: Session, peer: HamletPeer | None = None, days: int = 30) -> list[HamletAIUsage]:
    statement = select(HamletAIUsage).order_by(HamletAIUsage.day.desc(), HamletAIUsage.peer_id)
    if peer is not None:
        statement = statement.where(HamletAIUsage.peer_id == peer.id)
    return list(db.scalars(statement.limit(days * 10)))


def question_of(prompt: str) -> str:
    """A logged prompt as people read it: the model's turn markers taken out."""
    for marker in ("<start_of_turn>user\n", "<start_of_turn>model\n", "<end_of_turn>"):
        prompt = prompt.replace(marker, " ")
    return " ".join(prompt.split())

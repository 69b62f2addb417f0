"""Each member's AI history: every request, with what it used and what it cost (estimated),
visible and deletable by that member only."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hameau.ai.engines import Result
from hameau.ai.models import AIQuery
from hameau.errors import NotFound
from hameau.node.datadir import Node
from hameau.node.db import retrying

KEPT_CHARACTERS = 4000


def record(
    node: Node,
    member_id: int,
    kind: str,
    model: str,
    question: str,
    result: Result,
    sources: list[dict[str, object]],
    ran_on: str = "here",
) -> None:
    def work(session: Session) -> None:
        session.add(
            AIQuery(
                member_id=member_id, kind=kind, model=model,
                question=question[:KEPT_CHARACTERS], answer=result.text[:KEPT_CHARACTERS],
                sources=sources, prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                duration_ms=round(result.seconds * 1000), energy_wh=result.energy_wh,
                ran_on=ran_on,
            )
        )  # fmt: skip

    retrying(node.sessions, work)


def of(session: Session, member_id: int, limit: int = 200) -> list[AIQuery]:
    return list(
        session.scalars(
            select(AIQuery)
            .where(AIQuery.member_id == member_id)
            .order_by(AIQuery.created_at.desc(), AIQuery.id.desc())
            .limit(limit)
        )
    )


def forget(session: Session, member_id: int, query_id: int | None = None) -> None:
    """Delete one query of the member's history, or all of it."""
    statement = delete(AIQuery).where(AIQuery.member_id == member_id)
    if query_id is not None:
        found = session.get(AIQuery, query_id)
        if found is None or found.member_id != member_id:
            raise NotFound("No such query in your history.")
        statement = statement.where(AIQuery.id == query_id)
    session.execute(statement)


def sent_outside(session: Session) -> int:
    """Requests the AI sent outside this node: only to the household's own AI server, when
    one is configured (`ai_backend_url`); counted from the log."""
    return int(session.scalar(select(func.count(AIQuery.id)).where(AIQuery.ran_on != "here")) or 0)


def energy_by_member(session: Session, since: object) -> dict[int, tuple[int, float]]:
    """Per member, (queries, Wh) of the queries answered on this node since `since`: the
    energy each query's log holds (an estimate from its CPU time), for the footprint."""
    rows = session.execute(
        select(AIQuery.member_id, func.count(AIQuery.id), func.sum(AIQuery.energy_wh))
        .where(AIQuery.ran_on == "here", AIQuery.created_at >= since)
        .group_by(AIQuery.member_id)
    )
    return {int(member): (int(count), float(wh or 0.0)) for member, count, wh in rows}

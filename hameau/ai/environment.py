"""The AI part of a member's environment: their history of questions to the household's AI.

    ai/history.json   every query: when, kind, model, question, answer, sources, tokens,
                      time, energy (estimated) and where it ran

Import adds the queries not already there (known by time, kind and question), so importing
again adds nothing; in replace mode (moving home's way back) those it lacks are deleted. The models themselves are the household's, not the member's: not carried.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import Member
from hameau.ai.models import AIQuery
from hameau.node.datadir import Node
from hameau.node.environment import ArchiveReader, ArchiveWriter, Usage

INDEX = "ai/history.json"
FIELDS = ("kind", "model", "question", "answer", "sources", "prompt_tokens",
          "completion_tokens", "duration_ms", "energy_wh", "ran_on")  # fmt: skip


def _mine(session: Session, member: Member) -> list[AIQuery]:
    return list(
        session.scalars(
            select(AIQuery).where(AIQuery.member_id == member.id).order_by(AIQuery.created_at)
        )
    )


def export(node: Node, session: Session, member: Member, archive: ArchiveWriter) -> None:
    archive.add_json(
        INDEX,
        [
            {"created_at": query.created_at.isoformat(), **{f: getattr(query, f) for f in FIELDS}}
            for query in _mine(session, member)
        ],
    )


def import_(
    node: Node, session: Session, member: Member, archive: ArchiveReader, replace: bool = False
) -> None:
    """``replace``: a query the archive lacks (forgotten at the other home) goes here too."""
    records = archive.read_json(INDEX, [])
    listed = {(datetime.fromisoformat(r["created_at"]), r["kind"], r["question"]) for r in records}
    known = set()
    for query in _mine(session, member):
        key = (query.created_at, query.kind, query.question)
        if replace and key not in listed:
            session.delete(query)
        known.add(key)
    for record in records:
        at = datetime.fromisoformat(record["created_at"])
        if (at, record["kind"], record["question"]) in known:
            continue
        session.add(
            AIQuery(
                member_id=member.id, created_at=at, **{f: record[f] for f in FIELDS if f in record}
            )
        )
        known.add((at, record["kind"], record["question"]))
    session.flush()


def usage(node: Node, session: Session, member: Member) -> Usage:
    found = session.execute(
        select(
            func.count(AIQuery.id),
            func.coalesce(func.sum(func.length(AIQuery.question) + func.length(AIQuery.answer)), 0),
        ).where(AIQuery.member_id == member.id)
    ).one()
    return Usage(int(found[1]), int(found[0]))

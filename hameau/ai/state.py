"""What the AI keeps in `app.state` from the start (see hameau/parts.py): its runtime, the
questions posted and not yet answered, the models paired homes opened; a light module, so
the server starts without the AI's pages."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from typing import TYPE_CHECKING, Any

from hameau.ai import elsewhere
from hameau.errors import NotFound

if TYPE_CHECKING:
    from hameau.ai.answering import Asked


class Asks:
    """Questions posted and not yet streamed: each is taken once, by its member, within a
    minute (a page that never opens its stream leaves nothing behind for long). In the
    database (`ai_asks`), so the stream may reach another process than the question did."""

    LIMIT, SECONDS = 64, 60.0  # per member

    def __init__(self, node: Any) -> None:
        self.node = node

    def put(self, asked: Asked) -> str:
        from sqlalchemy import delete, select

        from hameau.ai.models import AIAsk
        from hameau.node.db import transaction

        now, key = time.time(), secrets.token_urlsafe(16)
        with transaction(self.node.sessions) as db:
            db.execute(delete(AIAsk).where(AIAsk.posted < now - self.SECONDS))
            mine = select(AIAsk.key_hash).where(AIAsk.member_id == asked.member_id)
            old = list(db.scalars(mine.order_by(AIAsk.posted.desc()).offset(self.LIMIT - 1)))
            if old:
                db.execute(delete(AIAsk).where(AIAsk.key_hash.in_(old)))
            db.add(AIAsk(key_hash=_hash(key), member_id=asked.member_id,
                         asked=_stored(asked), posted=now))  # fmt: skip
        return key

    def take(self, key: str, member_id: int) -> Asked:
        from sqlalchemy import delete

        from hameau.ai.models import AIAsk
        from hameau.node.db import transaction

        gone = NotFound("This question was already answered or has expired; ask it again.")
        with transaction(self.node.sessions) as db:
            row = db.get(AIAsk, _hash(key)) if len(key) < 100 else None
            if row is None or row.member_id != member_id:
                raise gone
            stored, fresh = row.asked, row.posted >= time.time() - self.SECONDS
            # Taken once: of two processes deleting the row, one deletes it.
            deleted = db.execute(delete(AIAsk).where(AIAsk.key_hash == row.key_hash))
            taken = deleted.rowcount  # type: ignore[attr-defined]
        if not taken or not fresh:
            raise gone
        return _loaded(stored)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _stored(asked: Asked) -> dict[str, Any]:
    """What the stream needs to answer (a page's question is logged in its member's history,
    so `log` is never set on one)."""
    fields = dataclasses.asdict(asked)
    del fields["log"]
    return fields


def _loaded(stored: dict[str, Any]) -> Asked:
    from hameau.ai.answering import Asked
    from hameau.ai.engines import Job

    return Asked(**{**stored, "job": Job(**stored["job"])})


def attach(app: Any, node: Any) -> None:
    """The AI's part of the served app (hameau/parts.py): the runtime loads nothing until the
    AI is asked, and lets the model go (its server process stopped) at the end."""
    from hameau.ai.runtime import Runtime

    app.state.ai = Runtime(node)  # it picks the household's AI server itself when one is set
    app.state.ai_asks = Asks(node)  # questions posted from the AI page, until their answer streams
    app.state.ai_offers = elsewhere.Offers()  # the models paired homes opened to this one
    app.state.stops.append(app.state.ai.close)

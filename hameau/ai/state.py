"""What the AI keeps in `app.state` from the start (see hameau/parts.py): its runtime, the
questions posted and not yet answered, the models paired homes opened; a light module, so
the server starts without the AI's pages."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from hameau.ai import elsewhere
from hameau.errors import NotFound

if TYPE_CHECKING:
    from hameau.ai.answering import Asked


class Asks:
    """Questions posted and not yet streamed: each is taken once, by its member, within a
    minute (a page that never opens its stream leaves nothing behind for long)."""

    LIMIT, SECONDS = 64, 60.0

    def __init__(self) -> None:
        self._asked: dict[str, tuple[Asked, float]] = {}

    def put(self, asked: Asked) -> str:
        now = time.monotonic()
        for key in [k for k, (_, at) in self._asked.items() if now - at > self.SECONDS]:
            del self._asked[key]
        while len(self._asked) >= self.LIMIT:
            del self._asked[next(iter(self._asked))]
        key = secrets.token_urlsafe(16)
        self._asked[key] = (asked, now)
        return key

    def take(self, key: str, member_id: int) -> Asked:
        asked, _ = self._asked.get(key, (None, 0.0))
        if asked is None or asked.member_id != member_id:
            raise NotFound("This question was already answered or has expired; ask it again.")
        del self._asked[key]
        return asked


def attach(app: Any, node: Any) -> None:
    """The AI's part of the served app (hameau/parts.py): the runtime loads nothing until the
    AI is asked, and lets the model go (its server process stopped) at the end."""
    from hameau.ai.runtime import Runtime

    app.state.ai = Runtime(node)  # it picks the household's AI server itself when one is set
    app.state.ai_asks = Asks()  # questions posted from the AI page, until their answer streams
    app.state.ai_offers = elsewhere.Offers()  # the models paired homes opened to this one
    app.state.stops.append(app.state.ai.close)

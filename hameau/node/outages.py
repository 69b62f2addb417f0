"""When the node last found its database or its content store unreachable (a PostgreSQL
server restarting, an object store down): the errors become `StoreUnavailable` (503, with
Retry-After), and the doors whose framework turns any error into a 500 (WsgiDAV, Radicale)
are answered 503 too by the web layer, which asks here whether an outage was seen during the
request."""

from __future__ import annotations

import threading
import time
from typing import Any

from hameau.errors import CONTENT_GAP, DATABASE_GAP, StoreUnavailable

# PostgreSQL's SQLSTATEs that say the server is going or not there yet: admin_shutdown,
# crash_shutdown, cannot_connect_now; class 08 is every connection exception.
_GONE = ("57P01", "57P02", "57P03")
GAPS = {"database": DATABASE_GAP, "content": CONTENT_GAP}  # what each outage says


class Outages:
    """The last moment (monotonic) each store was found unreachable; shared by threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def note(self, which: str) -> StoreUnavailable:
        """Record an outage of ``which`` ("database" or "content"); the error to raise."""
        with self._lock:
            self._last[which] = time.monotonic()
        return StoreUnavailable(GAPS[which])

    def since(self, moment: float) -> StoreUnavailable | None:
        """The error for an outage seen at or after ``moment`` (monotonic), else None."""
        with self._lock:
            seen = [(when, which) for which, when in self._last.items() if when >= moment]
        if not seen:
            return None
        which = max(seen)[1]
        return StoreUnavailable(GAPS[which])


def connection_lost(error: BaseException) -> bool:
    """Whether a driver error says the PostgreSQL server cannot be reached (refused, cut,
    shutting down, starting up), not that a statement failed."""
    try:
        import psycopg
    except ImportError:
        return False
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = getattr(error, "sqlstate", None)
    return state is None or state.startswith("08") or state in _GONE


def watch_engine(engine: Any, outages: Outages) -> None:
    """Turn a PostgreSQL engine's lost connections into `StoreUnavailable`. SQLAlchemy still
    invalidates its pool on a disconnect; the pool's ping then finds the server when it is
    back, so the node serves again without a restart."""
    from sqlalchemy import event

    def on_error(context: Any) -> StoreUnavailable | None:
        if context.is_pre_ping:  # the pool reconnects on its own; raising would stop it
            return None
        if context.is_disconnect or connection_lost(context.original_exception):
            return outages.note("database")
        return None

    event.listen(engine, "handle_error", on_error)

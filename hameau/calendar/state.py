"""What the calendar keeps in `app.state` from the start (see hameau/parts.py); a light
module, so the server starts without the calendar's pages."""

from __future__ import annotations

from typing import Any

from hameau.calendar.store import CalendarStore
from hameau.node.datadir import Node


def attach(app: Any, node: Node) -> None:
    """The calendar's part of the served app (hameau/parts.py): the pages' view of Radicale."""
    app.state.calendars = CalendarStore(node)

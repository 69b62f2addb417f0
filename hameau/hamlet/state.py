"""What the hamlet keeps in `app.state` and starts with the server: the nearby homes'
announcer (nearby.py) and the visits' records hook (visit_views.py)."""

from __future__ import annotations

from typing import Any


def sessions_section(request: Any, db: Any, visitor: Any) -> tuple[str, set[int]]:
    """visit_views' section of the sessions page, its module (and the peer API it imports)
    loaded when that page is first shown, not at start."""
    from hameau.hamlet import visit_views

    return visit_views.sessions_section(request, db, visitor)


def attach(app: Any, node: Any) -> None:
    from hameau.hamlet import nearby

    nearby.attach(app, node)
    app.state.session_sections.append(sessions_section)

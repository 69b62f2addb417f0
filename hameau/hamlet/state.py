"""What the hamlet keeps in `app.state` and starts with the server: the nearby homes'
announcer (nearby.py) and the visits' records hook (visit_views.py)."""

from __future__ import annotations

from typing import Any


def attach(app: Any, node: Any) -> None:
    from hameau.hamlet import nearby, visit_views

    nearby.attach(app, node)
    visit_views.attach(app, node)

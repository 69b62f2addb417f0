"""The backup part's state in the served app: the peers' repositories this node keeps for
them (hameau/backup/store_api.py) and the timer of this node's own next backup
(hameau/backup/schedule.py)."""

from __future__ import annotations

from typing import Any

from hameau.node.datadir import Node


def attach(app: Any, node: Node) -> None:
    from hameau.backup import schedule, store_api

    store_api.attach(app, node)
    schedule.attach(app, node)

"""The backup part's state in the served app: the peers' repositories this node keeps for
them (hameau/backup/store_api.py) and the timer of this node's own next backup
(hameau/backup/schedule.py)."""

from __future__ import annotations

from typing import Any

from hameau.node.datadir import Node


def attach(app: Any, node: Node) -> None:
    from hameau.backup import offers, schedule
    from hameau.backup.store import Repositories

    # What store_api.attach does, without importing the routes (loaded on their first use).
    app.state.backup_repositories = Repositories(offers.backups_root(node))
    schedule.attach(app, node)

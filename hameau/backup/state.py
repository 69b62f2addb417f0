"""The backup part's state in the served app: the peers' repositories this node keeps for
them (hameau/backup/store_api.py) and the timer of this node's own next backup
(hameau/backup/schedule.py)."""

from __future__ import annotations

from typing import Any

from hameau.node.datadir import Node


def attach(app: Any, node: Node) -> None:
    from hameau.backup import offers, schedule
    from hameau.backup.store import Repositories

    # The peers' repositories, each opened once for the app's life (their space counted);
    # the routes (store_api.py) load on their first request.
    app.state.backup_repositories = Repositories(offers.backups_root(node))
    schedule.attach(app, node)

"""Small records the node's work keeps between runs (`node_records`: the weekly scrub's last
run), in the database so that every process serving the node, on any machine, reads and
writes the same one (docs/scale.md)."""

from __future__ import annotations

from typing import Any

from hameau.node.datadir import Node
from hameau.node.db import transaction


def read(node: Node, name: str) -> dict[str, Any] | None:
    """The record called `name`, or None when there is none yet."""
    from hameau.node.models import NodeRecord

    with node.sessions() as session:
        found = session.get(NodeRecord, name)
        return dict(found.value) if found is not None else None


def write(node: Node, name: str, value: dict[str, Any]) -> None:
    """`name`'s record is now `value` (made by whichever process writes first)."""
    from hameau.node.db import utcnow
    from hameau.node.engine import insert_for
    from hameau.node.models import NodeRecord

    insert = insert_for(node.engine.dialect.name)
    now = utcnow()
    statement = insert(NodeRecord).values(name=name, value=value, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=["name"], set_={"value": value, "updated_at": now}
    )
    with transaction(node.sessions) as session:
        session.execute(statement)

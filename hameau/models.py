"""Every part's tables, gathered from the registry of parts so the migrations see the whole
schema (the node's own tables first)."""

from __future__ import annotations

from sqlalchemy import MetaData

from hameau.parts import PARTS, load


def metadata() -> MetaData:
    """The metadata of every table of the node, each part's table modules imported."""
    from hameau.node.db import Base

    for module in ("hameau.node.models", *(name for part in PARTS for name in part.models)):
        load(module)
    return Base.metadata

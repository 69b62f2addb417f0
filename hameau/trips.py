"""Assembly: the domains that sync to a satellite, read from the registry, for the travel
engine (travel is a domain: it never imports the registry). The CLI passes them down in its
context, the app factory to the satellite's automatic sync."""

from __future__ import annotations

from hameau import parts
from hameau.node import syncing


def domains() -> list[syncing.Domain]:
    """Each part with a `sync=` module, in the registry's order: (its name, the module)."""
    return [(part.name, parts.load(part.sync)) for part in parts.PARTS if part.sync]

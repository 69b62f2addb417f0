"""Assembly: the domains that sync to a satellite, read from the registry and handed to the
travel engine once at start-up (travel is a domain: it never imports the registry)."""

from __future__ import annotations

from hameau import parts
from hameau.node import syncing


def domains() -> list[syncing.Domain]:
    """Each part with a `sync=` module, in the registry's order: (its name, the module)."""
    return [(part.name, parts.load(part.sync)) for part, _adapter in parts.adapters() if part.sync]


def provide() -> None:
    syncing.provide(domains)

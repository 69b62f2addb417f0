"""The errors of backups at a neighbour's: each carries its status and one sentence."""

from __future__ import annotations

from hameau.errors import BadRequest, Forbidden, InsufficientStorage, NotFound


class NoOffer(Forbidden):
    """A paired peer this node offers no backup space to (or no more, for writes)."""


class BadObject(BadRequest):
    """A restic object whose type or name is not one restic uses, or whose name is not the
    SHA-256 of its content."""


class OverQuota(InsufficientStorage):
    """A write that would take a peer's repository past the space offered to it."""


class ObjectMissing(NotFound):
    """A restic object (or repository) that is not stored here."""

"""Errors of moving home: each carries its status and one sentence saying what to do."""

from __future__ import annotations

from hameau.errors import HameauError


class MemberFrozen(HameauError):
    """A write of a member whose things are in the move's final phase: retry shortly."""

    status = 503


class MemberMoved(HameauError):
    """An address of a member whose home is now another node: the same address there."""

    status = 308

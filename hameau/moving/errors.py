"""Moving home's errors: each carries its status and one sentence for the user. (The other
moving lanes add theirs at the end of this file.)"""

from __future__ import annotations

from hameau.errors import BadRequest, Conflict, HameauError, InsufficientStorage, NotFound


class MoveNotFound(NotFound):
    """No move of that id on this node (or not with the peer that asks)."""


class MoveConflict(Conflict):
    """A move that cannot do what is asked in the state it is in, or a member who cannot move."""


class NameTaken(Conflict):
    """A member of the moving member's name lives at the receiving node already."""


class PieceRefused(BadRequest):
    """A piece of content that does not hash to its name, or does not fit where it goes."""


class NoRoom(InsufficientStorage):
    """The receiving node's disk has not room for the moving member."""


class MemberFrozen(HameauError):
    """A write of a member whose things are in the move's final phase: retry shortly."""

    status = 503


class MemberMoved(HameauError):
    """An address of a member whose home is now another node: the same address there."""

    status = 308

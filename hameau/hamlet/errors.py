"""The hamlet's errors: each carries its status and one sentence for the user."""

from __future__ import annotations

from hameau.errors import HameauError, NotFound, Unauthorized
from hameau.node.peer import PeerFailed


class SignatureRefused(Unauthorized):
    """A node-to-node request whose signature is missing, wrong, expired, replayed or from a
    node that is not (or no longer) paired; the log says which."""


class InvitationRefused(Unauthorized):
    """An invitation that is unknown, already used, expired, or whose secret is wrong."""


class PeerNotFound(NotFound):
    """No paired node by that name or node id."""


class AnswerRefused(HameauError):
    """A peer's answer not signed by the key pinned for it (or not for this request)."""

    status = 502


class PeerResting(PeerFailed):
    """A peer whose last call failed, not called again before its next try (backoff): the
    call fails at once, without the network."""

    status = 503

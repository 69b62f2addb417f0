"""The hamlet's errors: each carries its status and one sentence for the user."""

from __future__ import annotations

from hameau.errors import BadRequest, HameauError, NotFound, Unauthorized
from hameau.node.peer import PeerFailed


class SignatureRefused(Unauthorized):
    """A node-to-node request whose signature is missing, wrong, expired, replayed or from a
    node that is not (or no longer) paired; the log says which."""


class InvitationRefused(Unauthorized):
    """An invitation that is unknown, already used, expired, or whose secret is wrong."""


class PeerNotFound(NotFound):
    """No paired node by that name or node id."""


class VisitRefused(BadRequest):
    """A visit's sign-in link this node will not serve: unknown client, bad redirect, no PKCE."""


class VisitEnded(Unauthorized):
    """A relayed request whose visit is unknown, ended, or held by another peer."""


class AnswerRefused(HameauError):
    """A peer's answer not signed by the key pinned for it (or not for this request)."""

    status = 502


class PeerResting(PeerFailed):
    """A peer whose last call failed, not called again before its next try (backoff): the
    call fails at once, without the network."""

    status = 503


class SignInRefused(BadRequest):
    """A visit that cannot start: no such peer, a sign-in answer that does not match or does
    not verify, a browser that is not a shared device of this home."""


class VisitUnavailable(HameauError):
    """The visitor's home cannot be reached, or answered something unusable, during a visit."""

    status = 502


class VisitTimedOut(HameauError):
    """The visitor's home did not answer in time during a visit."""

    status = 504

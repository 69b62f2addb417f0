"""The compute part's errors: each carries its status and one sentence saying what to do."""

from __future__ import annotations

from hameau.errors import BadRequest, Conflict, Forbidden, NotFound


class ReceiptRefused(Forbidden):
    """A receipt whose signature or content does not match the run it claims."""


class JobRefused(BadRequest):
    """A job that cannot be submitted as given."""


class JobNotFound(NotFound):
    """No such job (or not the member's)."""


class RunRefused(Conflict):
    """A provider that will not run a job now (its offer, its owner busy)."""


class NotVerified(Conflict):
    """Outputs asked before the job's outputs were verified."""

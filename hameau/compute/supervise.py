"""A job lent to another home runs owner first (issue 15; docs/compute.md).

`supervise` watches a started `sandbox.Child` (nice 19, its memory capped by the offer) until
it ends: it is stopped (SIGSTOP) as soon as a member uses the node, goes on (SIGCONT) once the
node is quiet again, and is vacated (killed, status "vacated": the job is matched elsewhere)
after `compute_vacate_minutes` stopped; it is stopped too (status "lost") when `lost` says
its asking home no longer follows it (provider.asker_lost). It looks every `check_every`
seconds only while a job runs here: nothing wakes an idle node.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hameau.compute import idle, sandbox
from hameau.node.datadir import Node

VACATED = "vacated"
LOST = "lost"


def vacated(killed: sandbox.Outcome, minutes: float) -> sandbox.Outcome:
    reason = (
        f"The job was stopped here: a member of this home used the server for {minutes:g}"
        " minutes while it waited, so it goes to another home."
    )
    return sandbox.Outcome(VACATED, reason, killed.exit_code, killed.fuel_used, "")


def supervise(
    node: Node, child: sandbox.Child, check_every: float = 5.0,
    lost: Callable[[], str | None] = lambda: None,
) -> sandbox.Outcome:  # fmt: skip
    """Run a started child to its end: suspend it while a member is active, resume when idle
    again, kill it (status "vacated") after compute_vacate_minutes suspended, or (status
    "lost", `lost`'s sentence) once `lost` says why nobody waits for it any more."""
    minutes = node.settings.compute_vacate_minutes
    suspended_at: float | None = None
    idle.OWN.running(child)
    try:
        while True:
            outcome = child.wait(timeout=check_every)
            if outcome is not None:
                return outcome
            if (why := lost()) is not None:
                child.kill()
                ended = child.wait() or _killed()
                return sandbox.Outcome(LOST, why, ended.exit_code, ended.fuel_used, "")
            if suspended_at is None:
                if idle.member_active(node):
                    child.suspend()
                    idle.OWN.stopped(child)
                    suspended_at = time.monotonic()
            elif time.monotonic() - suspended_at >= minutes * 60:
                child.kill()
                return vacated(child.wait() or _killed(), minutes)
            elif idle.may_resume(node):
                idle.OWN.running(child)
                child.resume()
                suspended_at = None
    finally:
        idle.OWN.ended(child)


def _killed() -> sandbox.Outcome:
    return sandbox.Outcome("killed", "The job was stopped.", None, 0, "")

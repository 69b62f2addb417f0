"""A job lent to another home runs owner first (issue 15; docs/compute.md).

`supervise` watches a started `sandbox.Child` (nice 19, its memory capped by the offer) until
it ends: it is stopped (SIGSTOP) as soon as a member uses the node, goes on (SIGCONT) once the
node is quiet again, and is vacated (killed, status "vacated": the job is matched elsewhere)
after `compute_vacate_minutes` stopped. It looks every `check_every` seconds only while a job
runs here: nothing wakes an idle node.
"""

from __future__ import annotations

import time

from hameau.compute import idle, sandbox
from hameau.node.datadir import Node

VACATED = "vacated"


def vacated(killed: sandbox.Outcome, minutes: float) -> sandbox.Outcome:
    reason = (
        f"The job was stopped here: a member of this home used the server for {minutes:g}"
        " minutes while it waited, so it goes to another home."
    )
    return sandbox.Outcome(VACATED, reason, killed.exit_code, killed.fuel_used, "")


def supervise(node: Node, child: sandbox.Child, check_every: float = 5.0) -> sandbox.Outcome:
    """Run a started child to its end: suspend it while a member is active, resume when idle
    again, kill it (status "vacated") after compute_vacate_minutes suspended."""
    minutes = node.settings.compute_vacate_minutes
    suspended_at: float | None = None
    idle.OWN.running(child)
    try:
        while True:
            outcome = child.wait(timeout=check_every)
            if outcome is not None:
                return outcome
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

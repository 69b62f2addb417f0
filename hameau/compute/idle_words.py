"""The node's idleness said in one sentence, for the page "What I lend" and the command line."""

from __future__ import annotations

from typing import Any

from hameau.compute.idle import State
from hameau.node.db import utcnow


def said(state: State, enabled: bool, fmt: Any, gettext: Any) -> str:
    """The node's idleness in one sentence, as the policy sees it now."""
    load = fmt.number(state.load, 2) if state.load is not None else ""
    threshold = fmt.number(state.threshold, 2)
    now = utcnow()
    if state.member_active:
        said = gettext("A member is active: jobs wait, and a running one is suspended.")
    elif state.load is None:
        said = gettext("The load cannot be read on this system: no job starts.")
    elif not state.load_low:
        said = gettext("Load %(load)s over the threshold %(threshold)s: no job starts.") % {
            "load": load, "threshold": threshold}  # fmt: skip
    elif state.quiet_from is not None and state.quiet_from > now:
        said = gettext("A member used the home server at %(last)s: idle at %(when)s if no one"
                       " comes back and the load stays low.") % {
            "last": fmt.time(state.last_activity), "when": fmt.time(state.quiet_from)}  # fmt: skip
    elif state.quiet_from is not None:
        said = gettext("Idle since %(when)s (load %(load)s, under the threshold %(threshold)s).") % {
            "when": fmt.when(state.quiet_from), "load": load, "threshold": threshold}  # fmt: skip
    else:
        said = gettext("Idle: no member has used the home server yet (load %(load)s, under the"
                       " threshold %(threshold)s).") % {"load": load, "threshold": threshold}  # fmt: skip
    if not enabled:
        said += " " + gettext("Lending is off: no job from another home runs here.")
    return said

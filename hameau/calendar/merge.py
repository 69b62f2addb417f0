"""How two copies of a calendar are reconciled: event by event, by UID, against the last
state both copies agreed on (the base, kept by the satellite as a hash per UID).

- changed on one side only: that side's version (or deletion) goes to the other;
- changed on both sides to the same text: nothing to do;
- an edit against a deletion: the edit wins;
- two different edits: the home's version keeps the UID, the satellite's is kept beside it
  as a new event whose title says "(conflit LABEL)", on both sides.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

HOUSEHOLD_CALENDAR = "household/agenda"


def calendar_path(member: str, name: str) -> str | None:
    """`calendar:agenda` is the member's own calendar, `calendar:household` the household's."""
    if name == "household":
        return HOUSEHOLD_CALENDAR
    if not name or "/" in name or name.startswith("."):
        return None
    return f"{member}/{name}"


def digest(text: str) -> str:
    return hashlib.sha256(text.replace("\r\n", "\n").encode()).hexdigest()


@dataclass
class EventPlan:
    local: dict[str, str | None] = field(default_factory=dict)  # uid: text, None to delete
    home: dict[str, tuple[str | None, str | None]] = field(
        default_factory=dict
    )  # uid: (text, expect)
    base: dict[str, str] = field(default_factory=dict)  # the agreed hashes once both are applied
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (uid, copy's uid)


def conflict_copy(text: str, uid: str, label: str) -> tuple[str, str]:
    """The satellite's version of an event as a new event: new UID, title marked."""
    import vobject

    calendar = vobject.readOne(text)
    copy_uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"hameau-conflict:{uid}:{digest(text)}"))
    for component in calendar.getChildren():
        if component.name in ("VEVENT", "VTODO", "VJOURNAL"):
            component.uid.value = copy_uid
            summary = component.summary.value if hasattr(component, "summary") else ""
            if hasattr(component, "summary"):
                component.summary.value = f"{summary} (conflit {label})"
            else:
                component.add("summary").value = f"(conflit {label})"
    return copy_uid, calendar.serialize()


def reconcile_events(
    local: dict[str, str], home: dict[str, str], base: dict[str, str], label: str
) -> EventPlan:
    plan = EventPlan()
    for uid in sorted(local.keys() | home.keys() | base.keys()):
        mine, theirs = local.get(uid), home.get(uid)
        mine_hash = digest(mine) if mine is not None else None
        theirs_hash = digest(theirs) if theirs is not None else None
        was = base.get(uid)
        if mine_hash == theirs_hash:
            if theirs_hash is not None:
                plan.base[uid] = theirs_hash
            continue
        if mine_hash == was:  # only the home changed it
            plan.local[uid] = theirs
            if theirs_hash is not None:
                plan.base[uid] = theirs_hash
        elif theirs_hash == was:  # only the satellite changed it
            plan.home[uid] = (mine, theirs_hash)
            if mine_hash is not None:
                plan.base[uid] = mine_hash
        elif mine is None:  # deleted here, edited at home: the edit wins
            plan.local[uid] = theirs
            plan.base[uid] = theirs_hash  # type: ignore[assignment]
        elif theirs is None:  # deleted at home, edited here: the edit wins
            plan.home[uid] = (mine, None)
            plan.base[uid] = mine_hash  # type: ignore[assignment]
        else:  # both edited: home keeps the UID, the satellite's goes beside it
            copy_uid, copy = conflict_copy(mine, uid, label)
            plan.local[uid] = theirs
            plan.base[uid] = theirs_hash  # type: ignore[assignment]
            if copy_uid not in home:
                plan.home[copy_uid] = (copy, None)
            plan.local[copy_uid] = copy
            plan.base[copy_uid] = digest(copy)
            plan.conflicts.append((uid, copy_uid))
    return plan

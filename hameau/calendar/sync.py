"""Calendars' side of travel sync (see hameau/node/syncing.py for the contract).

A calendar taken is reconciled event by event, by UID, against the last state both sides
agreed on (`merge.reconcile_events`); home applies the satellite's part only where an event
is unchanged since the satellite looked (else it is reconciled again next round).
"""

from __future__ import annotations

from typing import Any

from hameau.calendar import merge
from hameau.errors import BadRequest
from hameau.node.datadir import Node
from hameau.node.syncing import Trip


def _store(node: Node, member: str, name: str) -> tuple[Any, str]:
    from hameau.calendar.store import CalendarStore

    path = merge.calendar_path(member, name)
    if path is None:
        raise BadRequest("No calendar called '%(name)s'.", name=name)
    store = CalendarStore(node)
    store.ensure(member)
    return store, path


def changes_since(node: Node, member: str, cursor: str) -> dict[str, str]:
    """The events of the calendar ``cursor`` names ("agenda", "household"), by UID: the base
    both sides agreed on says which changed."""
    store, path = _store(node, member, cursor)
    return dict(store.items(member, path))


def apply(node: Node, member: str, changes: dict[str, Any]) -> int:
    """Put (or, for None, delete) each of the ``events`` of the calendar ``calendar``."""
    store, path = _store(node, member, changes["calendar"])
    for uid, text in changes["events"].items():
        if text is None:
            store.delete_item(member, path, uid)
        else:
            store.put_item(member, path, uid, text)
    return len(changes["events"])


def exchange(trip: Trip) -> bool:
    changed = False
    for name in trip.takes:
        changed |= _one(trip, name)
    return changed


def _one(trip: Trip, name: str) -> bool:
    url = f"/api/travel/calendars/{name}"
    theirs = trip.home.call("GET", url)["items"]
    mine = changes_since(trip.node, trip.member, name)
    base = trip.state.setdefault("base", {}).get(name, {})
    plan = merge.reconcile_events(mine, theirs, base, trip.label)
    trip.report.pulled += apply(trip.node, trip.member, {"calendar": name, "events": plan.local})
    stale = False
    if plan.home:
        events = {uid: {"text": text, "expect": was} for uid, (text, was) in plan.home.items()}
        answer = trip.home.call("POST", url, json={"events": events})
        trip.report.pushed += len(answer["applied"])
        stale = bool(answer["stale"])
    trip.report.conflicts += [f"calendar:{name}/{copy}" for _uid, copy in plan.conflicts]
    # The new base: what both sides now hold alike; where they still differ, the old one.
    theirs = trip.home.call("GET", url)["items"] if plan.home else theirs
    mine = changes_since(trip.node, trip.member, name)
    agreed = dict(base)
    for uid in mine.keys() | theirs.keys() | base.keys():
        here, there = mine.get(uid), theirs.get(uid)
        if here is None and there is None:
            agreed.pop(uid, None)
        elif here is not None and there is not None and merge.digest(here) == merge.digest(there):
            agreed[uid] = merge.digest(here)
    trip.state["base"][name] = agreed
    trip.save()
    return bool(plan.local or plan.home) or stale

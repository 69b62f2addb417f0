"""The satellite's side of sync: rounds over the domains it took, until both sides agree.

Each domain that syncs does its own round (`exchange`, in the module its registry entry
names with `sync=`; the contract is in hameau/node/syncing.py): files by version vectors
and content moved by hash, notes through their CRDT state vectors, calendars event by
event. This engine only runs them: one sync at a time (`lock.py`), a content store that is
not there refused first, rounds until none asks for another, the outcome kept in the
satellite's record. The syncing domains come from the assembly (`syncing.provide`), so
travel names none of them and never imports the registry.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from hameau.errors import HameauError
from hameau.files import settle
from hameau.node import syncing
from hameau.node.datadir import Node
from hameau.node.peer import Peer
from hameau.node.syncing import Report, Trip
from hameau.travel import satellite as record
from hameau.travel.home import CHANGES_PAGE, Home, HomeMoved, SyncFailed, client_for, http_client
from hameau.travel.lock import locked
from hameau.travel.satellite import Satellite

__all__ = ["ROUNDS", "Report", "stamp", "sync"]

ROUNDS = 6


def stamp(zone: str = "") -> str:
    """Now, as conflict copies are dated: in the home's time zone (UTC if unknown)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        where: Any = ZoneInfo(zone) if zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        where = UTC
    return datetime.now(where).strftime("%Y-%m-%d %Hh%M")


def trips(
    node: Node, satellite: Satellite, home: Home, report: Report, domains: list[syncing.Domain]
) -> list[tuple[Any, Trip]]:
    """Each syncing domain the satellite took something of, with its view of this sync."""
    found = []
    now = stamp(satellite.home_timezone)
    for name, module in domains:
        takes = satellite.taken(name)
        if takes:
            trip = Trip(
                node=node, member=satellite.member, home=home, takes=takes,
                label=satellite.device_name, home_replica=satellite.home_replica, stamp=now,
                state=satellite.state.setdefault(name, {}), report=report,
                save=lambda: record.save(node.layout.root, satellite),
            )  # fmt: skip
            found.append((module, trip))
    return found


def rounds(planned: list[tuple[Any, Trip]], report: Report) -> None:
    """Rounds of every domain until none asks for another (or a problem needs the member)."""
    for _round in range(ROUNDS):
        report.rounds += 1
        changed = False
        for module, trip in planned:
            changed |= bool(module.exchange(trip))
        if not changed or report.problems:
            return
    report.problems.append("the two sides kept changing; run sync again")


def repoint(node: Node, satellite: Satellite, moved: HomeMoved) -> None:
    """The member's home moved (moving home): the home this satellite trusts, asked with its
    credential, answered a permanent redirect naming the new one. Followed over the same
    scheme only (never from https to http); the new home's journal is read from its start."""
    old = satellite.home
    new = http_client(moved.to).address
    if urlsplit(new).scheme != urlsplit(old).scheme:
        raise SyncFailed(
            "Your home says it moved to %(to)s, over another scheme: not followed. Pack a new"
            " satellite from there.",
            to=new,
        )
    satellite.home = new
    satellite.home_moved = f"{old} {datetime.now(UTC).isoformat(timespec='seconds')}"
    satellite.state.get("files", {}).pop("home", None)  # sequence numbers of the old home
    record.save(node.layout.root, satellite)


def sync(
    node: Node,
    satellite: Satellite,
    client: Peer,
    page_size: int = CHANGES_PAGE,
    *,
    domains: list[syncing.Domain],
) -> Report:
    """Two-way sync of what the satellite took of these domains, until both sides agree (or
    a problem needs the member). A home that says the member moved is followed once (see
    `repoint`), and the sync runs with the new home."""
    try:
        return _sync(node, satellite, client, page_size, domains=domains)
    except HomeMoved as moved:
        repoint(node, satellite, moved)
    with client_for(satellite) as again:
        return _sync(node, satellite, again, page_size, domains=domains)


def _sync(
    node: Node,
    satellite: Satellite,
    client: Peer,
    page_size: int = CHANGES_PAGE,
    *,
    domains: list[syncing.Domain],
) -> Report:
    report = Report()
    started = time.perf_counter()
    home = Home(client, page_size)
    planned = trips(node, satellite, home, report, domains)
    with locked(node.layout.root):
        try:
            with node.sessions() as session:
                settle.check_marker(session, node.blobs)
            rounds(planned, report)
        except HameauError as error:
            satellite.last_error = str(error)
            record.save(node.layout.root, satellite)
            raise
        report.seconds = time.perf_counter() - started
        satellite.last_sync = datetime.now(UTC).isoformat(timespec="seconds")
        satellite.last_error = "; ".join(report.problems)
        record.save(node.layout.root, satellite)
    return report

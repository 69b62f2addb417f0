"""What the travel engine and each domain that syncs to a satellite agree on.

A domain that syncs names a module in its registry entry (`Part(sync="hameau.<domain>.sync")`)
with three functions:

- `changes_since(node, member, cursor)`: what changed here for this member since ``cursor``
  (the domain's own kind of cursor: sequence numbers per file space, nothing for notes,
  whose CRDT state vectors say it, a calendar's name for calendars), as plain data;
- `apply(node, member, changes)`: set here what was decided, each item compare-and-set
  (one changed meanwhile is left for the next round), and say what was applied;
- `exchange(trip) -> bool`: the satellite's side of one round: the home's changes through
  ``trip.home`` (its travel API), its own by `changes_since`, reconciled, each side's part
  applied (here by `apply`, at home through its API); True if another round must follow
  (something went home, or waits): a round that only brought home's changes here needs none.

The home's side of each is its travel API (hameau/travel/api*.py). The engine
(hameau/travel/sync.py) runs rounds over the domains a satellite took, in the registry's
order, until none asks for another. It does not import the registry (a domain never imports
the assembly): the assembly passes the syncing domains down (`hameau/trips.py`: the CLI
through its context, the app factory to the satellite's automatic sync).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hameau.node.datadir import Node


@dataclass
class Report:
    pulled: int = 0  # paths (files), notes and events changed here
    pushed: int = 0  # … and at home
    bytes_in: int = 0
    bytes_out: int = 0
    conflicts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rounds: int = 0
    seconds: float = 0.0  # the sync itself, without the command's start-up

    @property
    def complete(self) -> bool:
        return not self.problems


@dataclass
class Trip:
    """One domain's view of a sync: where, with whom, what was taken, and its saved state."""

    node: Node  # the satellite
    member: str
    home: Any  # travel's `Home`: call(method, url, **options), fetch/send(store, digests)
    takes: list[str]  # this domain's takes after "kind:" ("mine/Voyage", "agenda"; "" for all)
    label: str  # the satellite's name, in conflict copies
    home_replica: str  # the home's name in version vectors
    stamp: str  # now, as conflict copies are dated (in the home's time zone)
    state: dict[str, Any]  # the domain's own, kept in the satellite's record
    report: Report
    save: Callable[[], None]  # write the record now (a step fully done)


Domain = tuple[str, ModuleType]  # a part's name (also its kind of take) and its sync module

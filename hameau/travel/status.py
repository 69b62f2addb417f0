"""`hameau travel status` (and the satellite's travel page): what changed on each side since
the last sync, and the conflict copies still open.

Read in plain SQL (accounts/tables.py, files/tables.py: on sqlite3 for the command, on
SQLAlchemy's connection for the page), so the command starts without SQLAlchemy, the models
or the sync engine; the HTTP client to home is made only when a
file space was taken (there is something to ask home).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hameau.accounts import tables as accounts
from hameau.errors import HameauError
from hameau.files import tables as files
from hameau.files.merge import Order, compare
from hameau.travel.errors import HomeMoved, HomeUnreachable
from hameau.travel.satellite import Satellite


@dataclass
class Status:
    here: dict[str, list[str]]  # space: paths changed here, not yet at home
    home: dict[str, list[str]] | None  # None: the home could not be reached
    conflicts: list[str]
    last_sync: str
    last_error: str
    refusal: HameauError | None = None  # why sync cannot run at all (a store not there)
    moved_to: str = ""  # home answered that the member's home moved there (next sync follows)


def status(
    connection: Any, store: Any, satellite: Satellite, home: Callable[[], Any] | None
) -> Status:
    """What changed on each side since the last sync, and the conflict copies still open.
    ``store``: the satellite's content store; ``home``: makes travel's `Home` when there is
    something to ask it (None: home is not asked)."""
    here: dict[str, list[str]] = {}
    since, retry = satellite.files_state("local"), satellite.files_state("retry")
    member = accounts.member_id(connection, satellite.member)
    for space in satellite.spaces:
        owner = files.owner_id(space, member)
        changed = files.changed_paths(connection, owner, since.get(space, 0))
        here[space] = sorted(changed | set(retry.get(space, [])))
    open_conflicts = [
        f"{space}/{path}"
        for space in satellite.spaces
        for path in files.conflict_copies(connection, files.owner_id(space, member))
    ]
    refused = files.store_problem(connection, store)
    there, moved_to = None, ""
    if home is not None:
        try:
            there = {
                space: _at_home(connection, satellite, home(), space) for space in satellite.spaces
            }
        except HomeUnreachable:
            there = None
        except HomeMoved as moved:
            there, moved_to = None, moved.to
    return Status(
        here, there, sorted(open_conflicts), satellite.last_sync, satellite.last_error, refused,
        moved_to,
    )  # fmt: skip


def _at_home(connection: Any, satellite: Satellite, home: Any, space: str) -> list[str]:
    """The paths taken that changed at home and are not the same here yet."""
    since = satellite.files_state("home").get(space, 0)
    changes, _last = files.home_changes(home, space, since)
    owner = files.owner_id(space, accounts.member_id(connection, satellite.member))
    here_now = files.vectors(connection, owner, sorted(changes))
    return sorted(
        path for path, change in changes.items()
        if satellite.covers(space, path)
        and (path not in here_now
             or compare(change["vector"], here_now[path]) is not Order.EQUAL)
    )  # fmt: skip

"""Files' side of travel sync (see hameau/node/syncing.py for the contract).

Each round, for each file space taken: the home's changes since the last reconciled
sequence and this side's own are put side by side with the other side's current state of
the same paths, `merge.reconcile` says what each side must set, missing content moves by
hash (in one streamed body each way), and each side applies its part with a compare-and-set
on the path's vector (a path changed meanwhile waits for the next round). The cursors are
saved only once a space is fully reconciled, so a sync killed at any point starts again
from a point it had finished, and everything it does is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hameau.accounts import members
from hameau.accounts.models import Member
from hameau.errors import HameauError
from hameau.files import journal, settle, tables
from hameau.files import service as files
from hameau.files.merge import FileState, Outcome, reconcile
from hameau.files.tables import home_changes as home_changes  # re-exported
from hameau.node.datadir import Node
from hameau.node.db import retrying
from hameau.node.syncing import Trip

APPLY_BATCH = 500
FETCH_BATCH_BYTES = 256 << 20
SPACES = ("mine", "household")


def owner_of(space: str, member: Member) -> int | None:
    return tables.owner_id(space, member.id)


def spaces(takes: list[str]) -> list[str]:
    """The spaces taken ("mine/Voyage" takes from "mine")."""
    return sorted({take.partition("/")[0] for take in takes})


def covers(takes: list[str], space: str, path: str) -> bool:
    for take in takes:
        taken_space, _, folder = take.partition("/")
        if taken_space == space and (not folder or path == folder or path.startswith(folder + "/")):
            return True
    return False


def _in_batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_weight(digests: list[str], sizes: dict[str, int]) -> Iterator[list[str]]:
    """Contents in streams of up to 256 MiB or 5,000 items each."""
    batch: list[str] = []
    weight = 0
    for digest in digests:
        batch.append(digest)
        weight += sizes[digest]
        if weight >= FETCH_BATCH_BYTES or len(batch) >= 5000:
            yield batch
            batch, weight = [], 0
    if batch:
        yield batch


# ---------------------------------------------------------------- the two operations


def changes_since(node: Node, member: str, cursor: dict[str, int]) -> dict[str, Any]:
    """Per space of ``cursor``: the paths changed here after its sequence number, and the
    last number among them (`last`; the cursor's own if none). Both from one statement:
    each of SQLite's reads outside a write sees what is committed when it runs, so a last
    number read apart could count a change committed after the paths were read, and the
    cursor would then step over it."""
    found: dict[str, Any] = {}
    with node.sessions() as session:
        who = members.find_member(session, member)
        for space, since in cursor.items():
            changed = journal.changes_since(session, owner_of(space, who), since)
            found[space] = {
                "paths": sorted({e.path for e in changed}),
                "last": max((e.seq for e in changed), default=since),
            }
    return found


@dataclass
class Applied:
    adopted: dict[str, FileState] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)  # changed here meanwhile: next round
    refused: dict[str, str] = field(default_factory=dict)  # path: why, in words


def _deletions_first(states: dict[str, FileState]) -> list[tuple[str, FileState]]:
    """Deletions before contents, so a file replaced by a folder (or the reverse) is out of
    the way when its successor arrives."""
    return sorted(states.items(), key=lambda item: (item[1].blob is not None, item[0]))


def apply(node: Node, member: str, changes: dict[str, Any]) -> Applied:
    """Set here the ``states`` of paths of ``space`` (their contents already in the store,
    of ``sizes``), each only if its vector is still the one ``seen``, a batch at a time."""
    space, states = changes["space"], changes["states"]
    done = Applied()
    for batch in _in_batches(_deletions_first(states), APPLY_BATCH):

        def work(session: Session, batch: list[tuple[str, FileState]] = batch) -> Applied:
            return _apply_batch(session, node, member, space, batch, changes)

        found = retrying(node.sessions, work)
        done.adopted.update(found.adopted)
        done.stale += found.stale
        done.refused.update(found.refused)
    return done


def _apply_batch(
    session: Session,
    node: Node,
    member: str,
    space: str,
    batch: list[tuple[str, FileState]],
    changes: dict[str, Any],
) -> Applied:
    sizes, seen = changes["sizes"], changes["seen"]
    who = members.find_member(session, member)
    where = files.Space(space, owner_of(space, who))
    current = journal.rows(session, where.owner_id, [path for path, _ in batch], to_set=True)
    known: settle.Folders = {}
    done = Applied()
    # Paths this side never had (most of an initial pack): in bulk.
    fresh = [
        (path, state, sizes.get(state.blob, 0))
        for path, state in batch
        if state.blob and path not in current and path not in seen
    ]
    try:
        with session.begin_nested():
            settle.put_new(session, who, where, fresh, node.blobs, known)
    except (IntegrityError, HameauError):
        known.clear()
        fresh = []  # one by one below instead
    done.adopted.update({path: state for path, state, _size in fresh})
    _replace(session, node, who, where, batch, changes, current, done, known)
    for path, state in batch:
        if path in done.adopted:
            continue
        entry, was = current.get(path), seen.get(path)
        if (entry.vector if entry else None) != (was.vector if was else None):
            done.stale.append(path)
            continue
        try:
            with session.begin_nested():
                settle.put(
                    session, who, where, path, state,
                    sizes.get(state.blob, 0) if state.blob else 0, node.blobs,
                    check_quota=False, known=known,
                )  # fmt: skip
        except HameauError as error:
            known.clear()
            done.refused[path] = str(error)
            continue
        done.adopted[path] = state
    return done


def _replace(
    session: Session,
    node: Node,
    who: Member,
    where: files.Space,
    batch: list[tuple[str, FileState]],
    changes: dict[str, Any],
    current: Mapping[str, journal.Known],
    done: Applied,
    known: settle.Folders,
) -> None:
    """New content of files this side holds and has not changed since it looked (most of a
    re-sync): in bulk; anything else is left to be set one by one."""
    sizes, seen = changes["sizes"], changes["seen"]
    items = [
        (path, state, sizes.get(state.blob, 0))
        for path, state in batch
        if state.blob and path not in done.adopted and path in current and path in seen
        and current[path].vector == seen[path].vector
    ]  # fmt: skip
    if not items:
        return
    try:
        with session.begin_nested():
            replaced = settle.replace_many(session, who, where, items, current, node.blobs, known)
    except (IntegrityError, HameauError):
        known.clear()
        return
    states = dict(batch)
    done.adopted.update({path: states[path] for path in replaced})


# ---------------------------------------------------------------- the satellite's round


def exchange(trip: Trip) -> bool:
    """One round for every file space taken; True if anything changed on either side."""
    changed = False
    for space in spaces(trip.takes):
        changed |= SpaceRound(trip, space).run()
    return changed


class SpaceRound:
    """One round of one file space, from the satellite."""

    def __init__(self, trip: Trip, space: str) -> None:
        self.trip, self.space, self.node = trip, space, trip.node
        self.state = trip.state
        for key in ("home", "local", "retry"):
            self.state.setdefault(key, {})
        self.refused: dict[str, str] = {}  # path: why, in words
        self.sizes: dict[str, int] = {}

    def run(self) -> bool:
        theirs, pulled_to = self.home_changes()
        mine, snapshot = self.local_changes()
        home_view, local_view = self.views(theirs, mine)
        outcome = self.reconcile(local_view, home_view)
        self.fetch_missing(outcome.local)
        applied = apply(
            self.node, self.trip.member,
            {"space": self.space, "states": outcome.local, "sizes": self.sizes,
             "seen": local_view},
        )  # fmt: skip
        self.refused.update(applied.refused)
        self.trip.report.pulled += len(applied.adopted)
        pushed = self.apply_at_home(outcome.remote, home_view)
        report = self.trip.report
        report.conflicts += [f"{self.space}/{copy}" for _path, copy in outcome.conflicts]
        report.problems += [f"{self.space}/{p}: {why}" for p, why in sorted(self.refused.items())]
        done = pushed and not applied.stale
        # Another round confirms what went home (its journal numbered it anew) and retries
        # what waited or was refused here; a round that only set here what home had (most
        # of a re-sync) needs none: home's later changes come with the next sync.
        again = bool(outcome.remote or applied.refused) or not done
        if done:  # the engine saves the record right after the last round
            self.advance(pulled_to, snapshot, applied.adopted, save=again)
        return again

    def home_changes(self) -> tuple[dict[str, dict[str, Any]], int]:
        return home_changes(self.trip.home, self.space, self.state["home"].get(self.space, 0))

    def local_changes(self) -> tuple[set[str], int]:
        """Paths changed here since the cursor (and those refused last time), the snapshot."""
        since = self.state["local"].get(self.space, 0)
        here = changes_since(self.node, self.trip.member, {self.space: since})[self.space]
        return set(here["paths"]) | set(self.state["retry"].get(self.space, [])), here["last"]

    def views(
        self, theirs: dict[str, dict[str, Any]], mine: set[str]
    ) -> tuple[dict[str, FileState], dict[str, FileState]]:
        """Each side's state of every path either side changed (home asked for the rest)."""
        with self.node.sessions() as session:
            owner = owner_of(self.space, members.find_member(session, self.trip.member))
            local = journal.rows(session, owner, sorted(mine | theirs.keys()))
            local_view = {path: FileState(dict(e.vector), e.blob) for path, e in local.items()}
            self.sizes.update({e.blob: e.size for e in local.values() if e.blob})
        # Home paths outside what was taken stay at home, unless this copy already has them.
        theirs = {
            path: change for path, change in theirs.items()
            if covers(self.trip.takes, self.space, path) or path in local
        }  # fmt: skip
        ask = sorted(path for path in mine if path not in theirs)
        for chunk in _in_batches(ask, 1000):
            url = f"/api/travel/files/{self.space}/states"
            theirs.update(self.trip.home.call("POST", url, json={"paths": chunk}))
        self.sizes.update({c["blob"]: c["size"] for c in theirs.values() if c["blob"]})
        home_view = {path: FileState(c["vector"], c["blob"]) for path, c in theirs.items()}
        wanted = mine | theirs.keys()
        return home_view, {path: s for path, s in local_view.items() if path in wanted}

    def reconcile(
        self, local_view: dict[str, FileState], home_view: dict[str, FileState]
    ) -> Outcome:
        with self.node.sessions() as session:
            owner = owner_of(self.space, members.find_member(session, self.trip.member))
            return reconcile(
                local_view, home_view, journal.replica(session), self.trip.home_replica,
                self.trip.stamp, label=self.trip.label,
                exists=lambda path: journal.state(session, owner, path) is not None,
            )  # fmt: skip

    def fetch_missing(self, states: dict[str, FileState]) -> None:
        """Content first (each blob whole and verified), before any path refers to it."""
        wanted = {s.blob: self.sizes.get(s.blob, 0) for s in states.values() if s.blob}
        missing = sorted(digest for digest in wanted if not self.node.blobs.exists(digest))
        for batch in _by_weight(missing, wanted):
            self.trip.report.bytes_in += self.trip.home.fetch(self.node.blobs, batch)

    def send_missing(self, wanted: dict[str, int]) -> dict[str, str]:
        """Send home the contents it lacks; those it had no room for, each with why in words."""
        home, missing = self.trip.home, []
        for chunk in _in_batches(sorted(wanted), 5000):
            missing += home.call("POST", "/api/travel/blobs/missing", json={"digests": chunk})[
                "missing"
            ]
        refused: dict[str, str] = {}
        if missing:  # an empty body says the room left: what cannot fit is not sent at all
            room = home.send(self.node.blobs, []).get("room")
            for digest in sorted(missing, key=lambda digest: wanted[digest]):
                if room is not None and wanted[digest] > room:
                    refused[digest] = settle.quota_words(wanted[digest], room)
                elif room is not None:
                    room -= wanted[digest]
            missing = [digest for digest in missing if digest not in refused]
        for batch in _by_weight(missing, wanted):
            answer = home.send(self.node.blobs, batch)
            left = int(answer.get("room", 0))
            left -= sum(wanted[d] for d in batch if d not in answer.get("refused", []))
            for digest in answer.get("refused", []):
                refused[digest] = settle.quota_words(wanted[digest], max(0, left))
        self.trip.report.bytes_out += sum(wanted[d] for d in missing if d not in refused)
        return refused

    def apply_at_home(self, changes: dict[str, FileState], home_view: dict[str, FileState]) -> bool:
        """The content home lacks, then the paths, each against the state seen there; False
        if home had a path changed meanwhile (it waits for the next round)."""
        sizes = self.sizes
        no_room = self.send_missing(
            {s.blob: sizes.get(s.blob, 0) for s in changes.values() if s.blob}
        )
        puts = [
            {"path": path, "vector": state.vector, "blob": state.blob,
             "size": sizes.get(state.blob, 0) if state.blob else 0,
             "expect": home_view[path].vector if path in home_view else None}
            for path, state in _deletions_first(changes)
            if state.blob not in no_room
        ]  # fmt: skip
        for path, state in sorted(changes.items()):
            if state.blob in no_room:
                self.refused[path] = no_room[state.blob]
        done = True
        for chunk in _in_batches(puts, 1000):
            url = f"/api/travel/files/{self.space}/apply"
            answer = self.trip.home.call("POST", url, json={"changes": chunk})
            self.trip.report.pushed += len(answer["applied"])
            done = done and not answer["stale"]
            self.refused.update(answer["refused"])
        return done

    def advance(
        self, pulled_to: int, snapshot: int, adopted: dict[str, FileState], save: bool = True
    ) -> None:
        """Move the cursors of a space fully reconciled, saved now unless ``save`` is False
        (the engine's save after the last round keeps them); refused paths are tried again
        at every sync, without holding back the rest."""
        self.state["retry"][self.space] = sorted(self.refused)
        self.state["home"][self.space] = pulled_to
        with self.node.sessions() as session:
            owner = owner_of(self.space, members.find_member(session, self.trip.member))
            later = journal.rows_since(session, owner, snapshot)
        # What was written here since the snapshot is this sync's own doing: skip it next time.
        if all(e.path in adopted and e.vector == adopted[e.path].vector for e in later):
            snapshot = max([snapshot, *(e.seq for e in later)])
        self.state["local"][self.space] = snapshot
        if save:
            self.trip.save()

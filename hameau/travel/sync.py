"""The satellite's side of sync: the sync itself, over the home's travel API (home.py).

A sync runs in rounds. Each round, for each file space taken: the home's changes since the
last reconciled sequence and the satellite's own are put side by side with the other
side's current state of the same paths, `merge.reconcile` says what each side must set,
missing content moves by hash (in one streamed body each way), and each side applies its
part with a compare-and-set on the path's vector (a path changed meanwhile waits for the
next round). Notes are merged through their CRDT state vectors, calendars event by event.
Rounds go on until one finds nothing to do. The cursors are saved only after a space is
fully reconciled, so a sync killed at any point starts again from a point it had finished,
and everything it does is idempotent.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hameau.accounts import members
from hameau.accounts.models import Member
from hameau.errors import BadRequest, HameauError
from hameau.files import journal
from hameau.files import service as files
from hameau.node.datadir import Node
from hameau.node.db import retrying
from hameau.notes import service as notes
from hameau.travel import apply, calendars
from hameau.travel import satellite as record
from hameau.travel.home import CHANGES_PAGE, Home
from hameau.travel.lock import locked
from hameau.travel.merge import FileState, reconcile
from hameau.travel.satellite import Satellite

if TYPE_CHECKING:
    import httpx

ROUNDS = 6
APPLY_BATCH = 500
FETCH_BATCH_BYTES = 256 << 20


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


# ---------------------------------------------------------------- helpers


def stamp(zone: str = "") -> str:
    """Now, as conflict copies are dated: in the home's time zone (UTC if unknown)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        where: Any = ZoneInfo(zone) if zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        where = UTC
    return datetime.now(where).strftime("%Y-%m-%d %Hh%M")


def satellite_member(session: Session, satellite: Satellite) -> Member:
    return members.find_member(session, satellite.member)


def space_owner(space: str, member: Member) -> int | None:
    return member.id if space == "mine" else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------- files


def home_changes(home: Home, space: str, since: int) -> tuple[dict[str, dict[str, Any]], int]:
    found: dict[str, dict[str, Any]] = {}
    while True:
        page = home.call(
            "GET",
            f"/api/travel/files/{space}/changes",
            params={"since": since, "limit": home.page_size},
        )
        for change in page["changes"]:
            found[change["path"]] = change
        since = page["last"]
        if not page["more"]:
            return found, since


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


def _fetch_missing(node: Node, home: Home, wanted: dict[str, int], report: Report) -> None:
    missing = sorted(digest for digest in wanted if not node.blobs.exists(digest))
    for batch in _by_weight(missing, wanted):
        report.bytes_in += home.fetch(node.blobs, batch)


def _send_missing(node: Node, home: Home, wanted: dict[str, int], report: Report) -> dict[str, str]:
    """Send home the contents it lacks; those it had no room for, each with why in words."""
    missing: list[str] = []
    for chunk in _in_batches(sorted(wanted), 5000):
        answer = home.call("POST", "/api/travel/blobs/missing", json={"digests": chunk})
        missing += answer["missing"]
    refused: dict[str, str] = {}
    if missing:  # an empty body says the room left: what cannot fit is not sent at all
        room = home.send(node.blobs, []).get("room")
        for digest in sorted(missing, key=lambda digest: wanted[digest]):
            if room is not None and wanted[digest] > room:
                refused[digest] = apply.quota_words(wanted[digest], room)
            elif room is not None:
                room -= wanted[digest]
        missing = [digest for digest in missing if digest not in refused]
    for batch in _by_weight(missing, wanted):
        answer = home.send(node.blobs, batch)
        left = int(answer.get("room", 0))
        left -= sum(wanted[digest] for digest in batch if digest not in answer.get("refused", []))
        for digest in answer.get("refused", []):
            refused[digest] = apply.quota_words(wanted[digest], max(0, left))
    report.bytes_out += sum(wanted[digest] for digest in missing if digest not in refused)
    return refused


def _deletions_first(states: dict[str, FileState]) -> list[tuple[str, FileState]]:
    """Deletions before contents, so a file replaced by a folder (or the reverse) is out of
    the way when its successor arrives."""
    return sorted(states.items(), key=lambda item: (item[1].blob is not None, item[0]))


def _apply_here(
    node: Node,
    satellite: Satellite,
    space: str,
    changes: dict[str, FileState],
    sizes: dict[str, int],
    local_view: dict[str, FileState],
    refused: dict[str, str],
) -> tuple[dict[str, FileState], bool]:
    """Set here what reconcile says, a batch at a time (paths new here in bulk); returns the
    states adopted, and False if a path edited here meanwhile was left for the next round."""
    done = True
    adopted: dict[str, FileState] = {}
    for batch in _in_batches(_deletions_first(changes), APPLY_BATCH):

        def work(session: Session, batch: list[tuple[str, FileState]] = batch) -> list[str]:
            member = satellite_member(session, satellite)
            where = files.Space(space, space_owner(space, member))
            current = journal.states(session, where.owner_id, [path for path, _ in batch])
            known: apply.Folders = {}
            skipped = []
            # Paths this side never had (most of an initial pack): in bulk.
            fresh = [
                (path, state, sizes.get(state.blob, 0))
                for path, state in batch
                if state.blob and path not in current and path not in local_view
            ]
            try:
                with session.begin_nested():
                    apply.put_new(session, member, where, fresh, node.blobs, known)
            except (IntegrityError, HameauError):
                known.clear()
                fresh = []  # one by one below instead
            for path, state, _size in fresh:
                adopted[path] = state
            done = {path for path, _state, _size in fresh}
            for path, state in batch:
                if path in done:
                    continue
                entry = current.get(path)
                seen = local_view.get(path)
                if (entry.vector if entry else None) != (seen.vector if seen else None):
                    skipped.append(path)  # edited here meanwhile: next round
                    continue
                try:
                    with session.begin_nested():
                        apply.put(
                            session, member, where, path, state,
                            sizes.get(state.blob, 0) if state.blob else 0, node.blobs,
                            check_quota=False, known=known,
                        )  # fmt: skip
                except HameauError as error:
                    known.clear()
                    refused[path] = str(error)
                    continue
                adopted[path] = state
            return skipped

        if retrying(node.sessions, work):
            done = False
    return adopted, done


def _apply_at_home(
    node: Node,
    home: Home,
    space: str,
    changes: dict[str, FileState],
    sizes: dict[str, int],
    home_view: dict[str, FileState],
    refused: dict[str, str],
    report: Report,
) -> bool:
    """Send home the content it lacks, then the paths, each against the state seen here;
    False if home had a path changed meanwhile (it waits for the next round)."""
    done = True
    no_room = _send_missing(
        node,
        home,
        {s.blob: sizes.get(s.blob, 0) for s in changes.values() if s.blob},
        report,
    )
    puts = [
        {
            "path": path,
            "vector": state.vector,
            "blob": state.blob,
            "size": sizes.get(state.blob, 0) if state.blob else 0,
            "expect": home_view[path].vector if path in home_view else None,
        }
        for path, state in _deletions_first(changes)
        if state.blob not in no_room
    ]
    for path, state in sorted(changes.items()):
        if state.blob in no_room:
            refused[path] = no_room[state.blob]
    for chunk in _in_batches(puts, 1000):
        answer = home.call("POST", f"/api/travel/files/{space}/apply", json={"changes": chunk})
        report.pushed += len(answer["applied"])
        if answer["stale"]:
            done = False
        refused.update(answer["refused"])
    return done


def _advance(
    node: Node,
    satellite: Satellite,
    space: str,
    pulled_to: int,
    snapshot: int,
    adopted: dict[str, FileState],
    refused: dict[str, str],
) -> None:
    """Save the cursors of a space fully reconciled; refused paths are tried again at every
    sync, without holding back the rest."""
    satellite.retry[space] = sorted(refused)
    satellite.home_cursor[space] = pulled_to
    with node.sessions() as session:
        later = journal.changes_since(
            session, space_owner(space, satellite_member(session, satellite)), snapshot
        )
    # What was written here since the snapshot is this sync's own doing: skip it next time.
    if all(e.path in adopted and e.vector == adopted[e.path].vector for e in later):
        snapshot = max([snapshot, *(e.seq for e in later)])
    satellite.local_cursor[space] = snapshot
    record.save(node.layout.root, satellite)


def sync_space(node: Node, satellite: Satellite, home: Home, space: str, report: Report) -> bool:
    """One round for one file space; True if anything changed on either side."""
    since_home = satellite.home_cursor.get(space, 0)
    since_local = satellite.local_cursor.get(space, 0)
    theirs, pulled_to = home_changes(home, space, since_home)
    with node.sessions() as session:
        member = satellite_member(session, satellite)
        owner = space_owner(space, member)
        snapshot = journal.last_seq(session, owner)
        mine = {entry.path for entry in journal.changes_since(session, owner, since_local)}
        mine |= set(satellite.retry.get(space, []))  # refused last time: try them again
        local_entries = journal.states(session, owner, sorted(mine | theirs.keys()))
    # Home paths outside what was taken stay at home, unless this copy already has them.
    theirs = {
        path: change
        for path, change in theirs.items()
        if satellite.covers(space, path) or path in local_entries
    }
    ask = sorted(path for path in mine if path not in theirs)
    for chunk in _in_batches(ask, 1000):
        theirs.update(home.call("POST", f"/api/travel/files/{space}/states", json={"paths": chunk}))
    sizes = {change["blob"]: change["size"] for change in theirs.values() if change["blob"]}
    sizes.update({entry.blob: entry.size for entry in local_entries.values() if entry.blob})
    home_view = {path: FileState(c["vector"], c["blob"]) for path, c in theirs.items()}
    local_view = {
        path: FileState(dict(entry.vector), entry.blob)
        for path, entry in local_entries.items()
        if path in mine or path in theirs
    }
    with node.sessions() as session:
        owner = space_owner(space, satellite_member(session, satellite))
        outcome = reconcile(
            local_view, home_view, journal.replica(session), satellite.home_replica,
            stamp(satellite.home_timezone),
            label=satellite.device_name,
            exists=lambda path: journal.state(session, owner, path) is not None,
        )  # fmt: skip
    refused: dict[str, str] = {}  # path: why, in words

    # Here: content first (each blob whole and verified), then the paths, a batch at a time.
    _fetch_missing(
        node, home, {s.blob: sizes.get(s.blob, 0) for s in outcome.local.values() if s.blob}, report
    )
    adopted, done = _apply_here(node, satellite, space, outcome.local, sizes, local_view, refused)
    report.pulled += len(adopted)

    # At home: the content it lacks, then the paths, each against the state seen here.
    if not _apply_at_home(node, home, space, outcome.remote, sizes, home_view, refused, report):
        done = False
    report.conflicts += [f"{space}/{copy}" for _path, copy in outcome.conflicts]
    report.problems += [f"{space}/{path}: {why}" for path, why in sorted(refused.items())]

    if done:
        _advance(node, satellite, space, pulled_to, snapshot, adopted, refused)
    return bool(outcome.local or outcome.remote) or not done


# ---------------------------------------------------------------- notes


def sync_notes(node: Node, satellite: Satellite, home: Home, report: Report) -> bool:
    with node.sessions() as session:
        member = satellite_member(session, satellite)
        offers = [
            {
                "uid": note.uid,
                "state_vector": _b64(notes.sync_state(session, note).state_vector),
                "deleted": note.deleted_at is not None,
            }
            for note in notes.all_of(session, member)
        ]
    replies = home.call("POST", "/api/travel/notes/offer", json={"notes": offers})["notes"]
    pushes: list[dict[str, Any]] = []

    def work(session: Session) -> None:
        pushes.clear()
        member = satellite_member(session, satellite)
        answered = set()
        for reply in replies:
            uid = reply["uid"]
            answered.add(uid)
            note = notes.by_uid(session, member, uid)
            before = notes.sync_state(session, note).digest if note else None
            here_deleted = note is not None and note.deleted_at is not None
            note = notes.receive(session, member, uid, base64.b64decode(reply["update"]), None)
            after = notes.sync_state(session, note)
            home_news = before is None or after.digest != before
            here_news = after.digest != reply["digest"]
            there_deleted = reply["deleted"]
            if before is None:
                deleted = there_deleted
            else:  # an edit the deleting side had not seen beats the deletion
                deleted = (there_deleted and (here_deleted or not here_news)) or (
                    here_deleted and not home_news
                )
            if deleted != (note.deleted_at is not None):
                notes.receive(session, member, uid, b"\x00\x00", deleted)
            if home_news or (deleted != here_deleted):
                report.pulled += 1
            if here_news or deleted != there_deleted:
                update = notes.update_since(session, note, base64.b64decode(reply["state_vector"]))
                pushes.append({
                    "uid": uid, "update": _b64(update), "deleted": deleted,
                    "seen": reply["digest"],
                })  # fmt: skip
        for note in notes.all_of(session, member):
            if note.uid not in answered:  # made here: all of it goes home
                pushes.append({
                    "uid": note.uid, "update": _b64(notes.update_since(session, note, None)),
                    "deleted": note.deleted_at is not None, "seen": "",
                })  # fmt: skip

    retrying(node.sessions, work)
    for chunk in _in_batches(pushes, 200):
        home.call("POST", "/api/travel/notes/push", json={"notes": chunk})
    report.pushed += len(pushes)
    return bool(pushes)


# ---------------------------------------------------------------- calendars


def sync_calendar(node: Node, satellite: Satellite, home: Home, name: str, report: Report) -> bool:
    from hameau.calendar.store import CalendarStore

    path = calendars.calendar_path(satellite.member, name)
    if path is None:
        raise BadRequest("No calendar called '%(name)s'.", name=name)
    store = CalendarStore(node)
    store.ensure(satellite.member)
    theirs = home.call("GET", f"/api/travel/calendars/{name}")["items"]
    mine = store.items(satellite.member, path)
    base = satellite.calendar_base.get(name, {})
    plan = calendars.reconcile_events(mine, theirs, base, satellite.device_name)
    for uid, text in plan.local.items():
        if text is None:
            store.delete_item(satellite.member, path, uid)
        else:
            store.put_item(satellite.member, path, uid, text)
    report.pulled += len(plan.local)
    stale = False
    if plan.home:
        events = {
            uid: {"text": text, "expect": expect} for uid, (text, expect) in plan.home.items()
        }
        answer = home.call("POST", f"/api/travel/calendars/{name}", json={"events": events})
        report.pushed += len(answer["applied"])
        stale = bool(answer["stale"])
    report.conflicts += [f"calendar:{name}/{copy}" for _uid, copy in plan.conflicts]
    # The new base: what both sides now hold alike; where they still differ, the old one.
    theirs = home.call("GET", f"/api/travel/calendars/{name}")["items"] if plan.home else theirs
    mine = store.items(satellite.member, path)
    agreed = dict(base)
    for uid in mine.keys() | theirs.keys() | base.keys():
        here, there = mine.get(uid), theirs.get(uid)
        if here is None and there is None:
            agreed.pop(uid, None)
        elif (
            here is not None
            and there is not None
            and calendars.digest(here) == calendars.digest(there)
        ):
            agreed[uid] = calendars.digest(here)
    satellite.calendar_base[name] = agreed
    record.save(node.layout.root, satellite)
    return bool(plan.local or plan.home) or stale


# ---------------------------------------------------------------- the commands


def sync(
    node: Node, satellite: Satellite, client: httpx.Client, page_size: int = CHANGES_PAGE
) -> Report:
    """Two-way sync until both sides agree (or a problem needs the member)."""
    report = Report()
    started = time.perf_counter()
    home = Home(client, satellite.home, page_size)
    with locked(node.layout.root):
        try:
            with node.sessions() as session:
                apply.check_marker(session, node.blobs)
            for _round in range(ROUNDS):
                report.rounds += 1
                changed = False
                for space in satellite.spaces:
                    changed |= sync_space(node, satellite, home, space, report)
                if satellite.notes:
                    changed |= sync_notes(node, satellite, home, report)
                for name in satellite.calendars:
                    changed |= sync_calendar(node, satellite, home, name, report)
                if not changed or report.problems:
                    break
            else:
                report.problems.append("the two sides kept changing; run sync again")
        except HameauError as error:
            satellite.last_error = str(error)
            record.save(node.layout.root, satellite)
            raise
        report.seconds = time.perf_counter() - started
        satellite.last_sync = datetime.now(UTC).isoformat(timespec="seconds")
        satellite.last_error = "; ".join(report.problems)
        record.save(node.layout.root, satellite)
    return report

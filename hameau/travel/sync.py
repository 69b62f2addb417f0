"""The satellite's side of sync: pack, sync, status and return, over the home's travel API.

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
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hameau.accounts import members
from hameau.accounts.models import Member
from hameau.errors import BadRequest, Conflict, HameauError
from hameau.files import journal
from hameau.files import service as files
from hameau.node.blobs import BlobDamaged
from hameau.node.datadir import Node
from hameau.node.db import retrying, transaction
from hameau.notes import service as notes
from hameau.travel import apply, calendars, wire
from hameau.travel import satellite as record
from hameau.travel.merge import FileState, Order, compare, reconcile
from hameau.travel.satellite import Satellite

if TYPE_CHECKING:
    import httpx

ROUNDS = 6
CHANGES_PAGE = 5000  # the home's changes asked for at a time
APPLY_BATCH = 500
FETCH_BATCH_BYTES = 256 << 20
LOCK_FILE = "sync.lock"


class HomeUnreachable(HameauError):
    status = 503


class SyncFailed(HameauError):
    status = 502


class WrongPassword(HameauError):
    status = 401


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


# ---------------------------------------------------------------- talking to home


class Home:
    """The home node's travel API, through an httpx client (a real one, or a test's)."""

    def __init__(self, client: httpx.Client, address: str, page_size: int = CHANGES_PAGE) -> None:
        self.client = client
        self.address = address
        self.page_size = page_size  # changes asked for at a time (a test asks for 1)

    def call(self, method: str, url: str, **options: Any) -> Any:
        import httpx

        try:
            response = self.client.request(method, url, **options)
        except httpx.TransportError as error:
            raise self.unreachable(error) from None
        return self._answer(response)

    def enrol(self, body: dict[str, Any]) -> Any:
        """Pack's first call, a login: a refusal is a wrong password, not a revoked satellite,
        and a home out of reach means nothing was packed (there is no later sync to promise)."""
        import httpx

        try:
            response = self.client.post("/api/travel/satellites", json=body)
        except httpx.TransportError as error:
            raise HomeUnreachable(
                "The home node at %(url)s cannot be reached (%(why)s); nothing was packed."
                " Check the address and that home is up, then run this again.",
                url=self.address,
                why=type(error).__name__,
            ) from None
        if response.status_code == 401:
            raise WrongPassword(
                "The home node refused this member name and password (or the account is"
                " disabled); nothing was packed. Check them and run this again."
            )
        return self._answer(response)

    def unreachable(self, error: Exception) -> HomeUnreachable:
        return HomeUnreachable(
            "The home node at %(url)s cannot be reached (%(why)s); your changes stay here and"
            " will be sent at the next sync.",
            url=self.address,
            why=type(error).__name__,
        )

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code == 401:
            raise SyncFailed(
                "The home node no longer accepts this satellite's credential (revoked?);"
                " your changes stay here: pack a new satellite and copy them over."
            )
        if response.status_code >= 400:
            try:
                why = response.json().get("error") or response.text[:200]
            except ValueError:
                why = response.text[:200]
            raise SyncFailed(
                "The home node answered %(status)s: %(why)s",
                status=response.status_code,
                why=why,
            )
        return response.json() if response.content else None

    def fetch(self, store: Any, digests: list[str]) -> int:
        """Bring these contents into the local store; returns the bytes received."""
        import httpx

        receiver = wire.Receiver(store, allowed=set(digests))
        try:
            with self.client.stream(
                "POST", "/api/travel/blobs/fetch", json={"digests": digests}
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    self._answer(response)
                for chunk in response.iter_bytes(wire.READ):
                    receiver.feed(chunk)
            receiver.close()
        except httpx.TransportError as error:
            receiver.abort()
            raise self.unreachable(error) from None
        except wire.WireError as error:
            receiver.abort()
            raise SyncFailed(
                "Content from the home node was refused: %(why)s.", why=str(error)
            ) from None
        return receiver.total

    def send(self, store: Any, digests: list[str]) -> dict[str, Any]:
        """Send these contents home; the answer lists those it had no room for."""
        try:
            answer = self.call(
                "POST", "/api/travel/blobs/upload", content=wire.send(store, digests),
                headers={"Content-Type": "application/octet-stream"},
            )  # fmt: skip
        except BlobDamaged as damage:  # the body was cut before its bytes left
            raise SyncFailed(
                "A file's content is %(how)s on this machine, so it was not sent; run "
                "`hameau check` here and restore the file from an earlier version.",
                how=damage.reason,
            ) from None
        return answer or {}


def http_client(address: str, timeout: float = 60) -> httpx.Client:
    import httpx

    if not address.startswith(("http://", "https://")):
        raise BadRequest("The home node's address starts with http:// or https://.")
    return httpx.Client(
        base_url=address.rstrip("/"),
        timeout=httpx.Timeout(timeout, connect=5),
        headers={"Accept-Language": "en"},  # the command line speaks English
    )


def client_for(satellite: Satellite, timeout: float = 60) -> httpx.Client:
    client = http_client(satellite.home, timeout)
    client.headers["Authorization"] = f"Bearer {satellite.token}"
    return client


# ---------------------------------------------------------------- helpers


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """One sync at a time on a satellite (and no content sweep while one runs)."""
    handle = (root / LOCK_FILE).open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise Conflict(
            "Another sync is running on this satellite; wait for it to finish."
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def sync_running(root: Path) -> bool:
    try:
        with locked(root):
            return False
    except Conflict:
        return True


def stamp(zone: str = "") -> str:
    """Now, as conflict copies are dated: in the home's time zone (UTC if unknown)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        where: Any = ZoneInfo(zone) if zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        where = UTC
    return datetime.now(where).strftime("%Y-%m-%d %Hh%M")


def _member(session: Session, satellite: Satellite) -> Member:
    return members.find_member(session, satellite.member)


def _owner(space: str, member: Member) -> int | None:
    return member.id if space == "mine" else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------- files


def _home_changes(home: Home, space: str, since: int) -> tuple[dict[str, dict[str, Any]], int]:
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


def sync_space(node: Node, satellite: Satellite, home: Home, space: str, report: Report) -> bool:
    """One round for one file space; True if anything changed on either side."""
    since_home = satellite.home_cursor.get(space, 0)
    since_local = satellite.local_cursor.get(space, 0)
    theirs, pulled_to = _home_changes(home, space, since_home)
    with node.sessions() as session:
        member = _member(session, satellite)
        owner = _owner(space, member)
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
        owner = _owner(space, _member(session, satellite))
        outcome = reconcile(
            local_view, home_view, journal.replica(session), satellite.home_replica,
            stamp(satellite.home_timezone),
            label=satellite.device_name,
            exists=lambda path: journal.state(session, owner, path) is not None,
        )  # fmt: skip
    done = True
    refused: dict[str, str] = {}  # path: why, in words

    # Here: content first (each blob whole and verified), then the paths, a batch at a time.
    _fetch_missing(
        node, home, {s.blob: sizes.get(s.blob, 0) for s in outcome.local.values() if s.blob}, report
    )
    adopted: dict[str, FileState] = {}
    for batch in _in_batches(_deletions_first(outcome.local), APPLY_BATCH):

        def work(session: Session, batch: list[tuple[str, FileState]] = batch) -> list[str]:
            member = _member(session, satellite)
            where = files.Space(space, _owner(space, member))
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
    report.pulled += len(adopted)

    # At home: the content it lacks, then the paths, each against the state seen here.
    no_room = _send_missing(
        node,
        home,
        {s.blob: sizes.get(s.blob, 0) for s in outcome.remote.values() if s.blob},
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
        for path, state in _deletions_first(outcome.remote)
        if state.blob not in no_room
    ]
    for path, state in sorted(outcome.remote.items()):
        if state.blob in no_room:
            refused[path] = no_room[state.blob]
    for chunk in _in_batches(puts, 1000):
        answer = home.call("POST", f"/api/travel/files/{space}/apply", json={"changes": chunk})
        report.pushed += len(answer["applied"])
        if answer["stale"]:
            done = False
        refused.update(answer["refused"])
    report.conflicts += [f"{space}/{copy}" for _path, copy in outcome.conflicts]
    report.problems += [f"{space}/{path}: {why}" for path, why in sorted(refused.items())]

    if done:  # refused paths are tried again at every sync, without holding back the rest
        satellite.retry[space] = sorted(refused)
        satellite.home_cursor[space] = pulled_to
        with node.sessions() as session:
            later = journal.changes_since(
                session, _owner(space, _member(session, satellite)), snapshot
            )
        # What was written here since the snapshot is this sync's own doing: skip it next time.
        if all(e.path in adopted and e.vector == adopted[e.path].vector for e in later):
            snapshot = max([snapshot, *(e.seq for e in later)])
        satellite.local_cursor[space] = snapshot
        record.save(node.layout.root, satellite)
    return bool(outcome.local or outcome.remote) or not done


# ---------------------------------------------------------------- notes


def sync_notes(node: Node, satellite: Satellite, home: Home, report: Report) -> bool:
    with node.sessions() as session:
        member = _member(session, satellite)
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
        member = _member(session, satellite)
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


def pack(
    home_address: str,
    member_name: str,
    password: str,
    takes: list[str],
    data_dir: Path,
    name: str,
    client: httpx.Client,
) -> tuple[Node, Satellite]:
    """Make a satellite in ``data_dir``: enrol it at home, create its node, take the subset."""
    from hameau.config import Settings
    from hameau.node.datadir import Layout, exists, init_node

    parsed = [record.Take.parse(text) for text in takes]
    if not parsed:
        raise BadRequest(
            "Say what to take: --take files:mine/FOLDER, --take notes, --take calendar:agenda …"
        )
    if exists(Layout(data_dir)) or record.path(data_dir).exists():
        raise Conflict(
            "%(dir)s already holds a node; choose another --data-dir.", dir=str(data_dir)
        )
    home = Home(client, home_address)
    made = home.enrol(
        {
            "member": member_name,
            "password": password,
            "name": name,
            "takes": [str(t) for t in parsed],
        }
    )
    client.headers["Authorization"] = f"Bearer {made['token']}"
    try:
        for take in parsed:
            if take.kind == "files" and take.path:
                client_path = f"/api/files/{take.space}/{take.path}"
                found = client.get(client_path)
                if found.status_code == 404 or "entries" not in found.text:
                    raise BadRequest(
                        "There is no folder '%(path)s' in the %(space)s files at home.",
                        path=take.path, space=take.space,
                    )  # fmt: skip
            if take.kind == "calendar" and calendars.calendar_path(member_name, take.path) is None:
                raise BadRequest("No calendar called '%(name)s'.", name=take.path)
    except HameauError:
        home.call("DELETE", "/api/travel/satellites/self")
        raise
    node = init_node(Settings(data_dir=data_dir), f"{made['home']['name']} — {made['device_name']}")
    with transaction(node.sessions) as session:
        profile = made["member"]
        member = members.add_member(
            session, profile["name"], password, display_name=profile["display_name"],
            quota_bytes=max(profile["quota_bytes"], 1 << 40), locale=profile.get("locale"),
        )  # fmt: skip
        for take in parsed:
            if take.kind == "files" and take.path:
                apply_folder(session, member, take)
    satellite = Satellite(
        home=home_address.rstrip("/"),
        member=made["member"]["name"],
        device_name=made["device_name"],
        token=made["token"],
        home_replica=made["home"]["replica"],
        home_timezone=made["home"].get("timezone", ""),
        takes=[str(take) for take in parsed],
        packed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    record.save(data_dir, satellite)
    return node, satellite


def apply_folder(session: Session, member: Member, take: record.Take) -> None:
    where = files.Space(take.space, member.id if take.space == "mine" else None)
    folder = files.root(session, where)
    for name in take.path.split("/"):
        found = files.child(session, folder, name)
        if found is None:
            parts = [*filter(None, files.path_of(session, folder).split("/")), name]
            found = files.make_folder(session, member, where, parts)
        folder = found


@dataclass
class Status:
    here: dict[str, list[str]]  # space: paths changed here, not yet at home
    home: dict[str, list[str]] | None  # None: the home could not be reached
    conflicts: list[str]
    last_sync: str
    last_error: str
    refusal: HameauError | None = None  # why sync cannot run at all (a store not there)


def status(node: Node, satellite: Satellite, client: httpx.Client | None) -> Status:
    """What changed on each side since the last sync, and the conflict copies still open."""
    here: dict[str, list[str]] = {}
    with node.sessions() as session:
        member = _member(session, satellite)
        for space in satellite.spaces:
            owner = _owner(space, member)
            since = satellite.local_cursor.get(space, 0)
            changed = {e.path for e in journal.changes_since(session, owner, since)}
            here[space] = sorted(changed | set(satellite.retry.get(space, [])))
        open_conflicts = [
            f"{space}/{entry.path}"
            for space in satellite.spaces
            for entry in journal.changes_since(session, _owner(space, member), 0)
            if entry.blob is not None and "(conflit " in entry.path
        ]
        refused = apply.store_problem(session, node.blobs)
    there: dict[str, list[str]] | None = None
    if client is not None:
        home = Home(client, satellite.home)
        try:
            there = {}
            for space in satellite.spaces:
                changes, _last = _home_changes(home, space, satellite.home_cursor.get(space, 0))
                with node.sessions() as session:
                    owner = _owner(space, _member(session, satellite))
                    here_now = journal.states(session, owner, sorted(changes))
                there[space] = sorted(
                    path for path, change in changes.items()
                    if satellite.covers(space, path)
                    and (path not in here_now
                         or compare(change["vector"], here_now[path].vector) is not Order.EQUAL)
                )  # fmt: skip
        except HomeUnreachable:
            there = None
    return Status(
        here, there, sorted(open_conflicts), satellite.last_sync, satellite.last_error, refused
    )


def return_home(node: Node, satellite: Satellite, client: httpx.Client) -> Report:
    """A last sync; if everything reached home, the credential is revoked and the copy wiped."""
    report = sync(node, satellite, client)
    if not report.complete:
        raise SyncFailed(
            "Not everything reached home (%(why)s); nothing was wiped. Fix it and run"
            " `hameau travel return` again.",
            why="; ".join(report.problems[:3]),
        )
    Home(client, satellite.home).call("DELETE", "/api/travel/satellites/self")
    root = node.layout.root
    node.close()
    wipe(root)
    return report


def wipe(root: Path) -> None:
    """Remove the satellite's data dir (its record first, so a half-wiped one is no satellite)."""
    record.path(root).unlink(missing_ok=True)
    shutil.rmtree(root)
    if root.exists():  # pragma: no cover - rmtree raises first
        raise OSError(f"could not remove {root}")
    os.sync()

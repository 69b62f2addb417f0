"""A satellite's life around the sync itself (sync.py): `pack` (enrol at home, make the
node, take the subset), `status` (what changed on each side since the last sync) and
`return` (a last sync, then the credential revoked and the copy wiped).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from hameau.accounts import members
from hameau.accounts.models import Member
from hameau.calendar import merge as calendars
from hameau.errors import BadRequest, Conflict, HameauError
from hameau.files import journal, settle
from hameau.files import service as files
from hameau.files.merge import Order, compare
from hameau.files.sync import home_changes, owner_of
from hameau.node import syncing
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.node.peer import Peer
from hameau.travel import satellite as record
from hameau.travel.home import Home, HomeMoved, HomeUnreachable, SyncFailed
from hameau.travel.satellite import Satellite
from hameau.travel.sync import Report, sync


def pack(
    home_address: str,
    member_name: str,
    password: str,
    takes: list[str],
    data_dir: Path,
    name: str,
    client: Peer,
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
    home = Home(client)
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
        _check_takes(client, member_name, parsed)
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


def _check_takes(client: Peer, member_name: str, parsed: list[record.Take]) -> None:
    """Each folder taken is there at home, each calendar taken is one of the member's."""
    for take in parsed:
        if take.kind == "files" and take.path:
            client_path = f"/api/files/{take.space}/{take.path}"
            found = client.request("GET", client_path)
            if found.status_code == 404 or "entries" not in found.text:
                raise BadRequest(
                    "There is no folder '%(path)s' in the %(space)s files at home.",
                    path=take.path, space=take.space,
                )  # fmt: skip
        if take.kind == "calendar" and calendars.calendar_path(member_name, take.path) is None:
            raise BadRequest("No calendar called '%(name)s'.", name=take.path)


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
    moved_to: str = ""  # home answered that the member's home moved there (next sync follows)


def status(node: Node, satellite: Satellite, client: Peer | None) -> Status:
    """What changed on each side since the last sync, and the conflict copies still open."""
    here: dict[str, list[str]] = {}
    since, retry = satellite.files_state("local"), satellite.files_state("retry")
    with node.sessions() as session:
        member = members.find_member(session, satellite.member)
        for space in satellite.spaces:
            owner = owner_of(space, member)
            changed = {e.path for e in journal.changes_since(session, owner, since.get(space, 0))}
            here[space] = sorted(changed | set(retry.get(space, [])))
        open_conflicts = [
            f"{space}/{entry.path}"
            for space in satellite.spaces
            for entry in journal.changes_since(session, owner_of(space, member), 0)
            if entry.blob is not None and "(conflit " in entry.path
        ]
        refused = settle.store_problem(session, node.blobs)
    there, moved_to = None, ""
    if client is not None:
        try:
            there = {
                space: _at_home(node, satellite, Home(client), space) for space in satellite.spaces
            }
        except HomeUnreachable:
            there = None
        except HomeMoved as moved:
            there, moved_to = None, moved.to
    return Status(
        here, there, sorted(open_conflicts), satellite.last_sync, satellite.last_error, refused,
        moved_to,
    )  # fmt: skip


def _at_home(node: Node, satellite: Satellite, home: Home, space: str) -> list[str]:
    """The paths taken that changed at home and are not the same here yet."""
    since = satellite.files_state("home").get(space, 0)
    changes, _last = home_changes(home, space, since)
    with node.sessions() as session:
        owner = owner_of(space, members.find_member(session, satellite.member))
        here_now = journal.states(session, owner, sorted(changes))
    return sorted(
        path for path, change in changes.items()
        if satellite.covers(space, path)
        and (path not in here_now
             or compare(change["vector"], here_now[path].vector) is not Order.EQUAL)
    )  # fmt: skip


def return_home(
    node: Node, satellite: Satellite, client: Peer, domains: list[syncing.Domain]
) -> Report:
    """A last sync; if everything reached home, the credential is revoked and the copy wiped."""
    report = sync(node, satellite, client, domains=domains)
    if not report.complete:
        raise SyncFailed(
            "Not everything reached home (%(why)s); nothing was wiped. Fix it and run"
            " `hameau travel return` again.",
            why="; ".join(report.problems[:3]),
        )
    Home(client).call("DELETE", "/api/travel/satellites/self")
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

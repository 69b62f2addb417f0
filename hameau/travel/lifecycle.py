"""A satellite's life around the sync itself (sync.py): `pack` (enrol at home, make the
node, take the subset), `status` (what changed on each side since the last sync) and
`return` (a last sync, then the credential revoked and the copy wiped).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from hameau.accounts import members
from hameau.accounts.models import Member
from hameau.calendar import merge as calendars
from hameau.errors import BadRequest, Conflict, HameauError
from hameau.files import service as files
from hameau.node import syncing
from hameau.node.datadir import Node
from hameau.node.db import transaction
from hameau.node.peer import Peer
from hameau.travel import satellite as record
from hameau.travel.home import Home, SyncFailed
from hameau.travel.satellite import Satellite
from hameau.travel.status import Status as Status  # re-exported
from hameau.travel.status import status as status_of
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
    from hameau.node.datadir import Layout, init_node

    parsed = [record.Take.parse(text) for text in takes]
    if not parsed:
        raise BadRequest(
            "Say what to take: --take files:mine/FOLDER, --take notes, --take calendar:agenda …"
        )
    # Its key says a node was made there, on SQLite or on PostgreSQL (no hameau.db then).
    if Layout(data_dir).key_file.exists() or record.path(data_dir).exists():
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


def status(node: Node, satellite: Satellite, client: Peer | None) -> Status:
    """What changed on each side since the last sync, and the open conflicts (status.py),
    through an opened node; home is asked through ``client`` unless it is None."""
    with node.engine.connect() as connection:
        home = None if client is None else (lambda: Home(client))
        return status_of(connection, node.blobs, satellite, home)


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

"""`hameau move rollback` brings the member back to their old home exactly as they are at
the new one (docs/moving.md, "Rollback"): what they deleted there is deleted (a file in the
trash as it was there), what they wrote or edited there arrives, and both homes pass
`hameau check`. Two homes served as processes; the member's changes at the new home made
through its doors (WebDAV, CalDAV, the notes' API with the member's app password)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from hameau.accounts import members
from hameau.accounts.models import Device
from hameau.ai.history import forget
from hameau.calendar.store import CalendarStore
from hameau.node.db import transaction
from tests.e2e.hamlet_nodes import Home, hamlet
from tests.e2e.test_moving import environment_of, furnished, member_row
from tests.helpers import add_member
from tests.test_environment import files_of, opened

WRITTEN = b"written at B after the move"
LETTER = b"a new letter, written at B"


def _changes_at(home: Home, secret: str) -> None:
    """At the new home, through its doors: a file deleted, one added, one changed, a note
    edited, an event deleted; and the AI history forgotten, a device given away."""
    auth, verify = ("alex", secret), home.verify
    with httpx.Client(base_url=home.url, auth=auth, verify=verify, timeout=30) as client:
        assert client.delete("/dav/files/mine/photos/plage.jpg").status_code == 204
        assert client.put("/dav/files/mine/at-b.txt", content=WRITTEN).status_code == 201
        assert client.put("/dav/files/mine/lettre.txt", content=LETTER).status_code == 204
        (note,) = client.get("/api/notes").json()
        base = client.get(f"/api/notes/{note['id']}").json()["revision"]
        text = "# Idées\n\nUn potager partagé, et des poules\n"
        edited = client.put(f"/api/notes/{note['id']}", json={"base": base, "text": text})
        assert edited.status_code == 200, edited.text
        store_node = opened(home.data_dir)
        try:
            start = datetime(2026, 12, 1, tzinfo=UTC)
            (event,) = CalendarStore(store_node).events("alex", start, start + timedelta(days=7))
        finally:
            store_node.close()
        gone = client.delete(f"/dav/cal/alex/agenda/{event.uid}.ics")
        assert gone.status_code in (200, 204), gone.text
    node = opened(home.data_dir)
    try:
        with transaction(node.sessions) as session:
            alex = members.find_member(session, "alex")
            forget(session, alex.id)
            for device in session.scalars(select(Device).where(Device.owner_id == alex.id)):
                session.delete(device)
    finally:
        node.close()


def _state(root: Path) -> dict[str, object]:
    node = opened(root)
    try:
        return {**files_of(node, "alex"), "rest": environment_of(node, "alex")}
    finally:
        node.close()


def test_rollback_brings_the_member_back_exactly_as_at_the_new_home(tmp_path: Path) -> None:
    rule = {"B": {"HAMEAU_MOVING_ACCEPT_FROM": "A"}}
    with hamlet(tmp_path, names=("A", "B"), pairs=(("B", "A"),), env=rule) as homes:
        a, b = homes["A"], homes["B"]
        secret, _files, before = furnished(a)
        there = opened(b.data_dir)
        add_member(there, "sam")  # the housemate the photos are shared with lives there too
        there.close()
        moved = a.run("move", "alex", "--to", "B")
        assert moved.returncode == 0, moved.stderr + moved.stdout
        _changes_at(b, secret)
        at_b = _state(b.data_dir)

        back = b.run("move", "rollback", "alex")
        assert back.returncode == 0, back.stderr + back.stdout
        old = member_row(a.data_dir, "alex")
        assert old is not None and old.home_here and old.frozen_at is None

        at_a = _state(a.data_dir)
        live = at_a["live"]
        assert "photos/plage.jpg" not in live  # type: ignore[operator]
        assert live["at-b.txt"][0] == hashlib.sha256(WRITTEN).hexdigest()  # type: ignore[index]
        assert live["lettre.txt"][0] == hashlib.sha256(LETTER).hexdigest()  # type: ignore[index]
        assert "photos/plage.jpg" in [t[0] for t in at_a["trash"]]  # type: ignore[union-attr]
        rest_a, rest_b = at_a.pop("rest"), at_b.pop("rest")
        assert at_a == at_b
        # Sam's reply is Sam's again at A (B kept it as quoted history): no double.
        assert rest_a.pop("messages") == before["messages"]  # type: ignore[attr-defined]
        rest_b.pop("messages")  # type: ignore[attr-defined]
        assert rest_a == rest_b
        assert rest_a["notes"] == ["# Idées\n\nUn potager partagé, et des poules\n"]  # type: ignore[index]
        assert rest_a["events"] == [] and rest_a["ai"] == [] and rest_a["devices"] == []  # type: ignore[index]
        answer = httpx.get(
            a.url + "/dav/files/mine/photos/plage.jpg", auth=("alex", secret), verify=a.verify
        )
        assert answer.status_code == 404
        for home in (a, b):
            checked = home.run("check")
            assert checked.returncode == 0, checked.stdout + checked.stderr

"""A served node on PostgreSQL (`database_url` in its hameau.toml), through its real doors:
a member logs in, puts a file through WebDAV and another through the API, an event through
CalDAV, writes a note and a message; search finds them; a restart keeps them all."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import caldav
import httpx
import pytest

from hameau.accounts import members, tokens
from hameau.config import load_settings
from hameau.node.datadir import init_node
from hameau.node.db import transaction
from tests.e2e.served import Served, login_cookie, serve
from tests.helpers import PASSWORD, add_member

pytestmark = pytest.mark.e2e

FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
HEADER = re.compile(r'"X-CSRF-Token": "([^"]+)"')


def _node_on(root: Path, url: str) -> str:
    """A node whose settings file names the PostgreSQL database; alex's app password."""
    root.mkdir(mode=0o700)
    (root / "hameau.toml").write_text(f'[node]\ndatabase_url = "{url}"\n')
    node = init_node(load_settings(root, {}), "Association du quartier")
    try:
        add_member(node, "alex")
        add_member(node, "sam")
        with transaction(node.sessions) as session:
            return tokens.create_token(session, members.find_member(session, "alex"), "dav")[1]
    finally:
        node.close()


def _member(served: Served, name: str) -> httpx.Client:
    cookie = login_cookie(served.url, name, PASSWORD)  # the real login form
    return httpx.Client(base_url=served.url, cookies={"hameau_session": cookie}, timeout=30)


def _write_everything(served: Served, secret: str) -> None:
    alex = _member(served, "alex")
    dav = httpx.put(
        f"{served.url}/dav/files/mine/potager.txt",
        content="Semer les radis en mars, à la lune montante.".encode(),
        auth=("alex", secret),
    )
    assert dav.status_code == 201, dav.text
    header = {"X-CSRF-Token": HEADER.search(alex.get("/").text).group(1)}  # type: ignore[union-attr]
    api = alex.put("/api/files/household/budget.md", content=b"Cotisation annuelle: 12 euros",
                   headers=header)  # fmt: skip
    assert api.status_code == 201, api.text
    made = alex.post("/notes", data={"csrf_token": FIELD.search(alex.get("/notes").text).group(1)})  # type: ignore[union-attr]
    note = made.headers["location"]
    saved = alex.put(f"/api{note}", json={"base": 0, "text": "Réunion des jardiniers\n"},
                     headers=header)  # fmt: skip
    assert saved.status_code == 200, saved.text
    token = FIELD.search(alex.get("/messages").text).group(1)  # type: ignore[union-attr]
    sent = alex.post("/messages", data={"csrf_token": token, "subject": "Graines",
                                        "body": "Qui a des graines de capucine ?", "to": "sam"})  # fmt: skip
    assert sent.status_code == 303, sent.text
    calendar = caldav.DAVClient(url=f"{served.url}/dav/cal/", username="alex", password=secret)
    start = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    household = calendar.calendar(url=f"{served.url}/dav/cal/household/agenda/")
    household.save_event(dtstart=start, dtend=start + timedelta(hours=2),
                         summary="Troc de graines", uid="troc-1")  # fmt: skip


def _everything_is_there(served: Served, secret: str) -> None:
    alex, sam = _member(served, "alex"), _member(served, "sam")
    got = httpx.get(f"{served.url}/dav/files/mine/potager.txt", auth=("alex", secret))
    assert got.text == "Semer les radis en mars, à la lune montante."
    assert alex.get("/api/files/household/budget.md").content == b"Cotisation annuelle: 12 euros"
    assert "potager.txt" in alex.get("/search", params={"q": "radis"}).text
    assert "budget.md" in sam.get("/search", params={"q": "cotisation"}).text  # the household's
    assert "potager.txt" not in sam.get("/search", params={"q": "radis"}).text  # alex's own
    assert "Réunion des jardiniers" in alex.get("/search", params={"q": "reunion jardin"}).text
    assert "Graines" in sam.get("/messages").text
    agenda = sam.get("/agenda", params={"view": "week", "day": "2026-12-05"}).text
    assert "Troc de graines" in agenda


def test_a_node_on_postgresql_serves_every_door_and_keeps_it_all_across_a_restart(
    tmp_path: Path, pg_url: str
) -> None:
    root = tmp_path / "node"
    secret = _node_on(root, pg_url)
    with serve(root) as served:
        _write_everything(served, secret)
        _everything_is_there(served, secret)
    assert not (root / "hameau.db").exists()  # everything went to PostgreSQL
    with serve(root) as served:
        _everything_is_there(served, secret)

"""Faults on a served node on real engines (PostgreSQL 15 + SeaweedFS): PostgreSQL restarted
(fast and immediate), a `hameau serve` process SIGKILLed mid-upload beside a second one, one
volume server SIGKILLed then the whole object store down. Every door answers 503 with
Retry-After and one sentence during a gap, never a 500; nothing acknowledged is lost; nothing
partial is recorded; the node serves again without being restarted."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import caldav
import httpx
import pytest

from hameau.accounts import members, tokens
from hameau.node.blobs import load_store
from hameau.node.db import transaction
from tests import pg
from tests.e2e.served import Served, login_cookie, serve
from tests.e2e.test_webdav import raw_put, wait_for
from tests.helpers import PASSWORD, add_member, make_node
from tests.seaweed import SECRET_KEY, Cluster, seaweedfs

pytestmark = pytest.mark.e2e

ENV = {"HAMEAU_S3_SECRET_KEY": SECRET_KEY}


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pg.Cluster, Cluster]]:
    """A PostgreSQL cluster and a SeaweedFS cluster of this module's own (they are restarted
    and killed here)."""
    why = pg.missing()
    if why:
        pytest.skip(why)
    with pg.cluster() as database, seaweedfs(tmp_path_factory.mktemp("weed")) as store:
        yield database, store


@pytest.fixture(scope="module")
def node(engines: tuple[pg.Cluster, Cluster], tmp_path_factory: pytest.TempPathFactory) -> Any:
    database, store = engines
    root = tmp_path_factory.mktemp("faults") / "node"
    settings = {"database_url": database.new_database(), **store.settings("faults")}
    made = make_node(root, **settings)
    add_member(made, "alex")
    with transaction(made.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, "alex"), "dav")[1]
    made.close()
    lines = [f'{name} = "{value}"' for name, value in settings.items() if name != "s3_secret_key"]
    (root / "hameau.toml").write_text("[node]\n" + "\n".join(lines) + "\n")
    blobs = load_store(settings["blob_store"], root.parent / "reader", SimpleNamespace(**settings))
    return SimpleNamespace(root=root, secret=secret, blobs=blobs, database=database, store=store)


def doors(served: Served, node: Any, cookie: str) -> dict[str, httpx.Response]:
    """One request through each door: a page, the API, WebDAV (read and write), CalDAV."""
    member = {"cookies": {"hameau_session": cookie}, "timeout": 60}
    app = ("alex", node.secret)
    return {
        "page": httpx.get(f"{served.url}/", **member),  # type: ignore[arg-type]
        "api": httpx.get(f"{served.url}/api/files/mine/", auth=app, timeout=60),
        "dav read": httpx.request(
            "PROPFIND",
            f"{served.url}/dav/files/mine/",
            auth=app,
            headers={"Depth": "1"},
            timeout=60,
        ),  # fmt: skip
        "dav write": httpx.put(
            f"{served.url}/dav/files/mine/gap.txt", content=b"x", auth=app, timeout=60
        ),  # fmt: skip
        "caldav": httpx.request(
            "PROPFIND", f"{served.url}/dav/cal/alex/", auth=app, headers={"Depth": "0"}, timeout=60
        ),  # fmt: skip
    }


def assert_unavailable(answers: dict[str, httpx.Response], what: str) -> None:
    for door, answer in answers.items():
        assert answer.status_code == 503, (door, answer.status_code, answer.text[:300])
        assert answer.headers["retry-after"].isdigit(), door
        assert f"cannot reach its {what}" in answer.text, (door, answer.text[:300])
        assert "Traceback" not in answer.text, door


def test_postgresql_restarted_every_door_says_503_then_serves_again(node: Any) -> None:
    start = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    app = ("alex", node.secret)
    with serve(node.root, env=ENV) as served:
        cookie = login_cookie(served.url, "alex", PASSWORD)
        calendar = caldav.DAVClient(url=f"{served.url}/dav/cal/", username="alex",
                                    password=node.secret).calendar(url=f"{served.url}/dav/cal/alex/agenda/")  # fmt: skip
        for number, mode in enumerate(("fast", "immediate")):
            content = os.urandom(200_000)
            put = httpx.put(f"{served.url}/api/files/mine/kept{number}.bin", content=content,
                            auth=app, timeout=60)  # fmt: skip
            assert put.status_code == 201, put.text
            calendar.save_event(dtstart=start, dtend=start + timedelta(hours=1),
                                summary=f"Avant l'arrêt {number}", uid=f"kept-{number}")  # fmt: skip
            node.database.pg_ctl("-m", mode, "stop")
            try:
                assert_unavailable(doors(served, node, cookie), "database")
            finally:
                node.database.start()
            again = doors(served, node, cookie)  # the same process, not restarted
            assert {door: answer.status_code for door, answer in again.items()} == {
                "page": 200, "api": 200, "dav read": 207, "dav write": 201 if number == 0 else 204,
                "caldav": 207,
            }  # fmt: skip
            for each in range(number + 1):
                got = httpx.get(f"{served.url}/api/files/mine/kept{each}.bin", auth=app)
                assert got.status_code == 200
            assert got.content == content
            assert {event.icalendar_component["uid"] for event in calendar.events()} >= {
                f"kept-{each}" for each in range(number + 1)
            }
        assert "Traceback" not in served.output()

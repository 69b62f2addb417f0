"""Helpers shared by the tests: a real node in a temp dir, and a browser-like client."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from hameau.accounts import members
from hameau.app import create_app
from hameau.config import Settings
from hameau.node.datadir import Node, init_node
from hameau.node.db import transaction

ON_POSTGRESQL = os.environ.get("HAMEAU_TEST_DATABASE") == "postgresql"


def sqlite_only(why: str) -> Any:
    """A test of behaviour only SQLite has, not run when the tests run on PostgreSQL."""
    import pytest

    return pytest.mark.skipif(ON_POSTGRESQL, reason=f"not run on PostgreSQL: {why}")


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse"


def make_node(root: Path, **options: object) -> Node:
    """A node in ``root``; with HAMEAU_TEST_DATABASE=postgresql, its database on the test
    run's PostgreSQL (tests/pg.py), to run any test on it (docs/development.md)."""
    if os.environ.get("HAMEAU_TEST_DATABASE") == "postgresql" and "database_url" not in options:
        from tests.pg import name_in_settings, shared

        options = {**options, **name_in_settings(root, shared().new_database())}
    return init_node(Settings(data_dir=root, **options), "Test household")  # type: ignore[arg-type]


def add_member(node: Node, name: str, admin: bool = False, password: str = PASSWORD) -> int:
    with transaction(node.sessions) as session:
        member = members.add_member(session, name, password, admin=admin, quota_bytes=1 << 30)
        return member.id


def node_for_clients(root: Path, *names: str) -> str:
    """A new node in ``root`` with these members (closed again, to be served): the first
    one's app password, as a file manager or calendar client logs in with."""
    from hameau.accounts import tokens

    node = make_node(root)
    for name in names:
        add_member(node, name)
    with transaction(node.sessions) as session:
        secret = tokens.create_token(session, members.find_member(session, names[0]), "t")[1]
    node.close()
    return secret


def browser(node: Node, address: str = "192.0.2.10") -> TestClient:
    """A client that keeps cookies like a browser, from a non-loopback address by default."""
    return TestClient(create_app(node), client=(address, 50000), follow_redirects=False)


def csrf(page_html: str) -> str:
    match = CSRF_FIELD.search(page_html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def log_in(client: TestClient, name: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    params = {"member": name, **{k: v for k, v in extra.items() if k == "device"}}
    page = client.get("/login", params=params)
    assert page.status_code == 200, page.text
    form = {"name": name, "password": password, "csrf_token": csrf(page.text), **extra}
    return client.post("/login", data=form)


def post_form(client: TestClient, page_path: str, action: str, **fields: str):  # type: ignore[no-untyped-def]
    """Submit a form the way a browser does: load the page, take its CSRF token, post."""
    page = client.get(page_path)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf_token": csrf(page.text), **fields})


def enrol(client: TestClient, node: Node, device_name: str) -> str:
    """Enrol the client's browser as a device through a one-time link, as an admin would."""
    from hameau.accounts import devices

    with transaction(node.sessions) as session:
        code = devices.create_enrol_code(devices.find_device(session, device_name))
    confirm = client.get("/devices/enrol", params={"code": code})
    client.post("/devices/enrol", data={"code": code, "csrf_token": csrf(confirm.text)})
    secret = client.cookies.get("hameau_device")
    assert secret
    return secret


def csrf_header(client: TestClient) -> dict[str, str]:
    """The header a logged-in page's scripts send with their requests (taken from the page)."""
    page = client.get("/").text
    return {"X-CSRF-Token": page.split('"X-CSRF-Token": "')[1].split('"')[0]}


def members_logged_in(node: Node, *names: str) -> list[TestClient]:
    """Add these members and log each in on a browser of their own."""
    clients = []
    for name in names:
        add_member(node, name)
        client = browser(node)
        log_in(client, name)
        clients.append(client)
    return clients


def in_thread(work: Callable[..., Any], *args: Any) -> Any:
    """`work(*args)` in a thread of its own, for what refuses to run in a thread whose event
    loop runs (asyncio.run, zeroconf's blocking API): the session's Playwright holds the main
    thread's loop once a browser test ran."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work, *args).result()


@contextmanager
def mdns_alone() -> Iterator[None]:
    """This machine's mDNS to the holder alone: announcements are heard by every process
    here, so the tests that announce homes, or that expect nobody to, take turns across
    `make test`'s processes (an exclusive lock on a file in the temporary folder)."""
    import fcntl
    import tempfile

    path = Path(tempfile.gettempdir()) / f"hameau-tests-mdns-{os.getuid()}.lock"
    with path.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def callers() -> tuple[set[str], set[str]]:
    """The names and the files of the functions the current one was called from: for a test
    that injects a fault at one moment of a real call (an event hook that must act only
    inside a given function)."""
    names, files, frame = set(), set(), sys._getframe(1)
    while frame is not None:
        names.add(frame.f_code.co_name)
        files.add(frame.f_code.co_filename)
        frame = frame.f_back  # type: ignore[assignment]
    return names, files


def live_files(session: Any, member: Any) -> list[tuple[str, Any]]:
    """Every file of the member's private space, with its path, sorted."""
    from hameau.files import service as files
    from hameau.files.walk import tree

    top = files.root(session, files.space(member, "mine"))
    return [(path, entry) for path, entry in tree(session, top) if not entry.is_dir]


def lands_meanwhile(work: Callable[..., Any], *args: Any, **options: Any) -> Any:
    """Another door's write, started now in its own thread and given half a second to land
    before the caller goes on (it waits on a lock the caller holds, if any). Returns the
    thread, to join before checking what it wrote."""
    import threading

    other = threading.Thread(target=work, args=args, kwargs=options)
    other.start()
    other.join(0.5)
    return other


@contextmanager
def once_after(
    engine: Any, matches: Callable[[str], bool], then: Callable[[], Any]
) -> Iterator[list[Any]]:
    """Within the block, ``then`` runs once, right after the first statement on ``engine``
    whose SQL ``matches``: another door acting at one moment of a real call. Yields a list
    that holds what ``then`` returned once it ran (empty if it never did)."""
    from sqlalchemy import event

    ran: list[Any] = []

    def hook(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if not ran and matches(statement):
            ran.append(None)  # once: the statements ``then`` runs come through here too
            ran[0] = then()

    event.listen(engine, "after_cursor_execute", hook)
    try:
        yield ran
    finally:
        event.remove(engine, "after_cursor_execute", hook)

"""One node served by two `hameau serve` processes behind HAProxy (deploy/haproxy.cfg), sharing
one PostgreSQL database and one SeaweedFS store: whichever process answers, a member sees the
same node. Each test addresses the processes directly too, to force "the other process"."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hameau.accounts import members, tokens
from hameau.backup import service
from hameau.config import load_settings
from hameau.node import once
from hameau.node.datadir import open_node
from hameau.node.db import transaction
from tests.e2e.balanced import Balanced, balanced, proxy_missing
from tests.e2e.served import free_port, login_cookie, serve
from tests.helpers import PASSWORD, add_member, make_node
from tests.seaweed import SECRET_KEY, seaweedfs

pytestmark = pytest.mark.e2e

FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
LOCKINFO = (
    b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"<D:owner>alex</D:owner></D:lockinfo>"
)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, pg_cluster: Any) -> Iterator[dict[str, Any]]:
    """The node (on PostgreSQL and SeaweedFS), two processes and HAProxy; alex's app password."""
    if why := proxy_missing("haproxy"):
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("scale")
    url = pg_cluster.new_database("scale")
    with seaweedfs(folder / "seaweedfs") as store:
        settings = {"database_url": url, **store.settings("node")}
        root = folder / "node"
        made = make_node(root, **settings)
        for name in ("alex", "sam", "lou"):
            add_member(made, name)
        add_member(made, "ana", admin=True)
        with transaction(made.sessions) as session:
            secret = tokens.create_token(session, members.find_member(session, "alex"), "dav")[1]
        made.close()
        lines = [f'{key} = "{value}"' for key, value in settings.items() if key != "s3_secret_key"]
        lines.append('forwarded_allow_ips = "127.0.0.1"')  # the proxy's X-Forwarded-For believed
        # The household's AI server, down: a question is kept, its answer says the server is
        # unreachable (no model is needed to see which process found the question).
        lines.append(f'ai_backend_url = "http://127.0.0.1:{free_port()}/v1"')
        (root / "hameau.toml").write_text("[node]\n" + "\n".join(lines) + "\n")
        with balanced(root, 2, env={"HAMEAU_S3_SECRET_KEY": SECRET_KEY}) as served:
            yield {"served": served, "secret": secret, "root": root}
        for port in list(store.volumes):  # a throwaway cluster: no 10 s graceful stop each
            store.kill_volume(port)
    pg_cluster.drop(url)


def member(url: str, name: str, cookie: str) -> httpx.Client:
    return httpx.Client(base_url=url, cookies={"hameau_session": cookie}, timeout=30)


def token_of(client: httpx.Client, path: str) -> str:
    found = FIELD.search(client.get(path).text)
    assert found, f"no form on {path}"
    return found.group(1)


def test_a_login_on_one_process_holds_on_the_other_and_through_the_proxy(
    node: dict[str, Any],
) -> None:
    served: Balanced = node["served"]
    one, other = served.processes
    cookie = login_cookie(one.url, "alex", PASSWORD)
    with member(one.url, "alex", cookie) as on_one, member(other.url, "alex", cookie) as on_other:
        token = token_of(on_one, "/messages")  # the form's token, from the first process
        sent = on_other.post("/messages", data={"csrf_token": token, "subject": "Clés",
                                                 "body": "Les clés du local sont chez Sam.",
                                                 "to": "sam"})  # fmt: skip
        assert sent.status_code == 303, sent.text
        forged = on_other.post("/messages", data={"csrf_token": "1~x", "subject": "x", "body": "x"})
        assert forged.status_code == 403
    with member(served.url, "alex", cookie) as through:
        for _ in range(4):  # one after the other: both processes answer, each knows the session
            assert "Clés" in through.get("/messages").text
    assert all("GET /messages" in process.output() for process in served.processes)


def test_failed_logins_spread_over_the_processes_lock_the_account(node: dict[str, Any]) -> None:
    served: Balanced = node["served"]
    urls = [*(process.url for process in served.processes), served.url]

    def try_login(url: str, password: str) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=30) as client:
            token = token_of(client, "/login")
            return client.post("/login", data={"name": "lou", "password": password,
                                               "csrf_token": token})  # fmt: skip

    for attempt in range(5):  # the default limit, each process seeing two or three of them
        assert try_login(urls[attempt % 3], "wrong").status_code == 401
    for url in urls:
        refused = try_login(url, PASSWORD)  # even the right password, on either process
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) > 0


def test_the_processes_believe_the_proxys_forwarded_headers_not_a_clients(
    node: dict[str, Any],
) -> None:
    """A client on this machine that claims to be elsewhere, over HTTPS: the proxy sets both
    headers, so the processes see loopback over plain HTTP (metrics open to loopback, the
    session cookie not marked Secure), and no process logs the forged address."""
    served: Balanced = node["served"]
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=served.url, headers=forged, timeout=30) as client:
        assert client.get("/metrics").status_code == 200  # 403 for 203.0.113.9
        logged_in = client.post("/login", data={"name": "sam", "password": PASSWORD,
                                                "csrf_token": token_of(client, "/login")})  # fmt: skip
        assert logged_in.status_code == 303, logged_in.text
        cookie = logged_in.headers["set-cookie"]
        assert "hameau_session=" in cookie and "secure" not in cookie.lower(), cookie
    assert not any("203.0.113.9" in process.output() for process in served.processes)


def test_a_webdav_lock_taken_on_one_process_is_kept_by_the_other(node: dict[str, Any]) -> None:
    one, other = node["served"].processes
    auth = ("alex", node["secret"])
    path = "/dav/files/mine/compte-rendu.odt"
    with httpx.Client(auth=auth, timeout=30) as dav:
        locked = dav.request("LOCK", one.url + path, content=LOCKINFO,
                             headers={"Timeout": "Second-600"})  # fmt: skip
        assert locked.status_code == 201, locked.text
        token = locked.headers["lock-token"].strip("<>")
        assert dav.put(other.url + path, content=b"sans le jeton").status_code == 423
        held = dav.put(other.url + path, content=b"avec le jeton", headers={"If": f"(<{token}>)"})
        assert held.status_code in (200, 204), held.text
        unlocked = dav.request("UNLOCK", other.url + path, headers={"Lock-Token": f"<{token}>"})
        assert unlocked.status_code == 204
        assert dav.put(one.url + path, content=b"libre").status_code in (200, 204)
        assert dav.get(other.url + path).content == b"libre"


def test_a_message_posted_through_one_process_reaches_a_live_page_on_the_other(
    node: dict[str, Any],
) -> None:
    one, other = node["served"].processes
    alex = member(one.url, "alex", login_cookie(one.url, "alex", PASSWORD))
    sam = member(other.url, "sam", login_cookie(other.url, "sam", PASSWORD))
    with alex, sam:
        started = alex.post("/messages", data={"csrf_token": token_of(alex, "/messages"),
                                               "subject": "Vide-grenier", "body": "Qui vient ?",
                                               "to": "sam"})  # fmt: skip
        thread = started.headers["location"]
        with sam.stream("GET", f"{thread}/events", timeout=httpx.Timeout(30)) as live:
            lines = live.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))  # the first message
            reply = alex.post(thread, data={"csrf_token": token_of(alex, thread),
                                            "body": "Moi, avec des livres."})  # fmt: skip
            assert reply.status_code == 303, reply.text
            data = next(line for line in lines if line.startswith("data:"))
        assert json.loads(data.removeprefix("data:"))["body"] == "Moi, avec des livres."


def test_events_written_at_once_through_both_processes_are_all_kept(
    node: dict[str, Any],
) -> None:
    processes = node["served"].processes
    auth = ("alex", node["secret"])
    cookie = login_cookie(processes[0].url, "alex", PASSWORD)
    with member(processes[0].url, "alex", cookie) as alex:
        assert alex.get("/agenda").status_code == 200  # the household's calendar made
    calendar = "/dav/cal/household/agenda/"
    failures: list[str] = []

    def write(process: int) -> None:
        with httpx.Client(base_url=processes[process].url, auth=auth, timeout=60) as dav:
            for number in range(8):
                uid = f"p{process}-{number}"
                put = dav.put(f"{calendar}{uid}.ics", content=_event(uid),
                              headers={"Content-Type": "text/calendar"})  # fmt: skip
                if put.status_code != 201:
                    failures.append(f"{uid}: {put.status_code} {put.text}")

    writers = [threading.Thread(target=write, args=(number,)) for number in (0, 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failures == []
    for process in processes:
        listing = httpx.request("PROPFIND", process.url + calendar, auth=auth,
                                headers={"Depth": "1"}, timeout=30)  # fmt: skip
        found = set(re.findall(r"(p[01]-\d)\.ics", listing.text))
        assert found == {f"p{p}-{n}" for p in (0, 1) for n in range(8)}


def test_an_upload_through_the_proxy_is_read_back_from_each_process(node: dict[str, Any]) -> None:
    served: Balanced = node["served"]
    content = os.urandom(3 << 20)
    auth = ("alex", node["secret"])
    put = httpx.put(served.url + "/dav/files/mine/photos.bin", content=content, auth=auth,
                    timeout=60)  # fmt: skip
    assert put.status_code == 201, put.text
    for process in served.processes:
        got = httpx.get(process.url + "/dav/files/mine/photos.bin", auth=auth, timeout=60)
        assert got.content == content


def _event(uid: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hameau tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20261212T100000Z\r\n"
        f"DTEND:20261212T110000Z\r\nSUMMARY:Permanence {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def test_a_question_asked_through_one_process_is_answered_through_the_other(
    node: dict[str, Any],
) -> None:
    one, other = node["served"].processes
    cookie = login_cookie(one.url, "sam", PASSWORD)
    with member(one.url, "sam", cookie) as on_one, member(other.url, "sam", cookie) as on_other:
        page = on_one.get("/").text
        header = {"X-CSRF-Token": page.split('"X-CSRF-Token": "')[1].split('"')[0]}
        posted = on_one.post("/ai", data={"question": "Qui garde les clés ?"},
                             headers={"HX-Request": "true", **header})  # fmt: skip
        assert posted.status_code == 200, posted.text
        found = re.search(r'sse-connect="(/ai/answers/[^"]+)"', posted.text)
        assert found, posted.text
        answered = on_other.get(found.group(1)).text  # the stream, from the other process
        assert "event: status" in answered and "expir" not in answered, answered
        again = on_one.get(found.group(1)).text  # taken once, whichever process asks again
        assert "expir" in again, again


def test_a_satellites_sync_spread_over_the_processes_sends_each_content_once(
    node: dict[str, Any],
) -> None:
    one, other = node["served"].processes
    bearer = {"Authorization": f"Bearer {node['secret']}"}
    content = os.urandom(4096)
    digest = hashlib.sha256(content).hexdigest()
    with httpx.Client(headers=bearer, timeout=30) as satellite:
        sent = satellite.post(f"{one.url}/api/travel/blobs/upload",
                              content=f"{digest} {len(content)}\n".encode() + content)  # fmt: skip
        assert sent.json()["stored"] == [digest], sent.text
        asked = satellite.post(f"{other.url}/api/travel/blobs/missing", json={"digests": [digest]})
        assert asked.json() == {"missing": []}  # proved on one: not asked for again
        change = {"path": "Voyage/carnet.bin", "vector": {"sat": 1}, "blob": digest,
                  "size": len(content), "expect": None}  # fmt: skip
        applied = satellite.post(f"{other.url}/api/travel/files/mine/apply",
                                 json={"changes": [change]})  # fmt: skip
        assert applied.json()["applied"] == ["Voyage/carnet.bin"], applied.text
        got = satellite.get(f"{one.url}/api/files/mine/Voyage/carnet.bin")
        assert got.content == content


def test_a_backup_whose_process_is_killed_is_taken_over_and_never_runs_twice_at_once(
    node: dict[str, Any],
) -> None:
    """A third process runs the backup (a once-only job: its advisory lock) and is SIGKILLed
    mid-way; meanwhile the job is nobody else's; then the next turn of another process (an
    admin's "Back up now") backs up, and the killed run is said interrupted."""
    one = node["served"].processes[0]
    root = node["root"]
    opened = open_node(load_settings(root, {"HAMEAU_S3_SECRET_KEY": SECRET_KEY}))
    try:
        (root.parent / "usb").mkdir(exist_ok=True)  # the backup disk, plugged in
        service.setup(opened, str(root.parent / "usb" / "hameau"))
        (root / "photos-de-la-fete.bin").write_bytes(os.urandom(8 << 20))  # work to be cut in
        with serve(root, env={"HAMEAU_S3_SECRET_KEY": SECRET_KEY}) as doomed:
            ana = member(doomed.url, "ana", login_cookie(doomed.url, "ana", PASSWORD))
            with ana:
                token = token_of(ana, "/backup")
                assert ana.post("/backup/now", data={"csrf_token": token}).status_code == 303
            _until(lambda: _outcomes(opened) == ["running"], "the backup started")
            with once.once(opened, "backup") as mine:
                assert not mine  # held by the doomed process: no one else backs up now
            doomed.process.send_signal(signal.SIGKILL)
            doomed.process.wait()
        _until(lambda: _free(opened), "PostgreSQL freed the killed process's lock")
        cookie = login_cookie(one.url, "ana", PASSWORD)
        with member(one.url, "ana", cookie) as ana:

            def taken_over() -> bool:
                if "ok" not in _outcomes(opened):
                    ana.post("/backup/now", data={"csrf_token": token_of(ana, "/backup")})
                return "ok" in _outcomes(opened)

            _until(taken_over, "another process backed up", every=2.0)
        assert sorted(_outcomes(opened)) == ["interrupted", "ok"]
    finally:
        (root / "photos-de-la-fete.bin").unlink(missing_ok=True)
        opened.close()


def _outcomes(opened: Any) -> list[str]:
    with opened.sessions() as session:
        return [run.outcome for run in service.last_runs(session)]


def _free(opened: Any) -> bool:
    with once.once(opened, "backup") as mine:
        return mine


def _until(check: Any, what: str, every: float = 0.02, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not seen in {seconds} s: {what}"
        time.sleep(every)

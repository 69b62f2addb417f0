"""Calendars across processes (issue 17): Radicale's own storage and its lock, measured
against the floor of a storage in the node's database, in the same run.

Radicale: 1, 2 and 4 `hameau serve` processes of one node on PostgreSQL, sharing one data dir
(so one Radicale folder and one lock file, `collections/.Radicale.lock`, taken with `flock`:
shared by readers, alone by a writer, over the whole storage). CalDAV clients with members'
app passwords (httpx), spread over the processes round robin, addressed directly: --writers
members edit events (PUT), --readers others do calendar-query and sync-collection REPORTs
(bench/calendar_work.py). Three phases of --seconds each, each client sending its next
request when the last is answered: writes alone, reads alone, both at once; then an
association's busiest hour (--association: reads and writes per second arriving at random
times, whatever the answers' pace, for --association-seconds). Meanwhile a probe in this
process takes the same lock shared every 5 ms, as a reader: how often a writer held it, and
how long it then waited.

The floor (bench/calendar_floor.py): the same operations as the statements a storage in the
database must run, on the same PostgreSQL, from as many processes with as many clients; no
HTTP, no login, no parsing: a floor, not a storage.

Prints one JSON line.   .venv/bin/python bench/calendar_storage.py [--processes 1,2,4]
                        [--seconds 4] [--writers 4] [--readers 4] [--members 20]
                        [--association 10,1] [--association-seconds 12]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import random
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import calendar_floor as floor
import calendar_work as work
import common  # noqa: F401  (puts the repository on the path)
import httpx
from common import read_process

from hameau.accounts import members, tokens
from hameau.calendar.store import CalendarStore
from hameau.node.db import transaction
from tests import pg
from tests.e2e.served import Served, serve
from tests.helpers import add_member, make_node

CAL = "/dav/cal"
QUERY = (
    '<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:"'
    ' xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
    '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range'
    ' start="20261201T000000Z" end="20270101T000000Z"/></C:comp-filter></C:comp-filter>'
    "</C:filter></C:calendar-query>"
)
SYNC = (
    '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
    "<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
    "<D:prop><D:getetag/></D:prop></D:sync-collection>"
)
TOKEN = re.compile(r"<[^>]*sync-token>([^<]+)</")


def prepare(root: Path, url: str, names: list[str]) -> dict[str, str]:
    """The node on PostgreSQL with its members and their calendars filled; app passwords."""
    from radicale import item as radicale_item

    node = make_node(root, database_url=url)
    secrets = {}
    for name in names:
        add_member(node, name)
        with transaction(node.sessions) as session:
            member = members.find_member(session, name)
            secrets[name] = tokens.create_token(session, member, "caldav")[1]
    store = CalendarStore(node)
    for name in names:
        store.ensure(name)
    with store.storage.acquire_lock("w"):
        for path, events in work.collections(names).items():
            items = [
                radicale_item.Item(collection_path=path, text=body) for body in events.values()
            ]
            tag = {"tag": "VCALENDAR", "D:displayname": path}
            store.storage.create_collection(f"/{path}/", items=items, props=tag)
    node.close()
    (root / "hameau.toml").write_text(f'[node]\ndatabase_url = "{url}"\n')
    return secrets


class Probe:
    """A reader of Radicale's lock, every 5 ms: was a writer holding it, and for how long did
    the probe then wait (taking the lock shared, as Radicale's readers do)."""

    def __init__(self, lock_file: Path) -> None:
        self.lock_file, self.samples = lock_file, 0
        self.waits: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with self.lock_file.open("rb") as lock:
            while not self._stop.wait(0.005):
                self.samples += 1
                try:
                    fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    started = time.perf_counter()
                    fcntl.flock(lock, fcntl.LOCK_SH)
                    self.waits.append(time.perf_counter() - started)
                fcntl.flock(lock, fcntl.LOCK_UN)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self) -> dict[str, Any]:
        waits = sorted(self.waits)
        return {"samples": self.samples,
                "writer_held_share": round(len(waits) / max(1, self.samples), 3),
                "wait_p50_ms": _ms(_at(waits, 0.5)), "wait_p95_ms": _ms(_at(waits, 0.95)),
                "wait_max_ms": _ms(waits[-1] if waits else 0.0)}  # fmt: skip


def _at(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else 0.0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def summary(measured: list[tuple[str, float]], seconds: float) -> dict[str, Any]:
    """Per kind of request: how many per second, and their latency's percentiles."""
    found: dict[str, Any] = {}
    for kind in sorted({kind for kind, _ in measured}):
        times = sorted(took for each, took in measured if each == kind)
        found[kind] = {"per_s": round(len(times) / seconds, 1), "count": len(times),
                       "p50_ms": _ms(_at(times, 0.5)), "p95_ms": _ms(_at(times, 0.95)),
                       "p99_ms": _ms(_at(times, 0.99)),
                       "mean_ms": _ms(statistics.fmean(times))}  # fmt: skip
    return found


class Client:
    """One member's CalDAV client on one process: its next request, by its plan."""

    def __init__(self, url: str, secret: str, plan: dict[str, Any]) -> None:
        self.plan, self.step, self.tokens = plan, 0, {}  # type: ignore[var-annotated]
        self.dav = httpx.AsyncClient(base_url=url, auth=(str(plan["member"]), secret),
                                     timeout=120)  # fmt: skip

    async def next(self) -> tuple[str, float]:
        """(kind, seconds) of the plan's next request."""
        step, started = self.step, time.perf_counter()
        self.step += 1
        if self.plan["role"] == "writer":
            path, uid, body = work.write_step(self.plan, step)
            put = await self.dav.put(f"{CAL}/{path}/{uid}.ics", content=body,
                                     headers={"Content-Type": "text/calendar"})  # fmt: skip
            return _checked("put", put, (201, 204), started)
        kind, path = work.read_step(self.plan, step)
        body = QUERY if kind == "query" else SYNC.format(token=self.tokens.get(path, ""))
        headers = {"Depth": "1", "Content-Type": "application/xml"}
        asked = await self.dav.request("REPORT", f"{CAL}/{path}/", content=body, headers=headers)
        if kind == "sync" and asked.status_code == 207:
            self.tokens[path] = TOKEN.findall(asked.text)[-1]
        return _checked(kind, asked, (207,), started)


def _checked(kind: str, answer: httpx.Response, wanted: tuple[int, ...],
             started: float) -> tuple[str, float]:  # fmt: skip
    if answer.status_code not in wanted:
        raise RuntimeError(f"{answer.request.method} {answer.url}: {answer.status_code} "
                           f"{answer.text[:300]}")  # fmt: skip
    return kind, time.perf_counter() - started


async def _closed(clients: list[Client], seconds: float) -> list[tuple[str, float]]:
    """Each client sends its next request as soon as the last is answered."""
    out: list[tuple[str, float]] = []

    async def run(client: Client) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            out.append(await client.next())

    await asyncio.gather(*(run(client) for client in clients))
    return out


def arrivals(seconds: float, rates: dict[str, float]) -> list[tuple[float, str]]:
    """(when, role) of requests arriving at random (Poisson) at each role's rate: the same
    every run (one seeded generator per role)."""
    found = []
    for seed, (role, rate) in enumerate(sorted(rates.items())):
        chance, when = random.Random(17 + seed), 0.0
        while rate > 0 and (when := when + chance.expovariate(rate)) < seconds:
            found.append((when, role))
    return sorted(found)


async def _open(clients: list[Client], seconds: float, rates: dict[str, float]) -> list[Any]:
    """Requests sent at their arrival times, whatever the answers' pace: writes from the
    writers, reads from the readers, each in turn."""
    turns = {role: 0 for role in rates}
    sent, begun = [], time.perf_counter()
    for when, role in arrivals(seconds, rates):
        await asyncio.sleep(max(0.0, begun + when - time.perf_counter()))
        mine = [client for client in clients if client.plan["role"] == role]
        sent.append(asyncio.create_task(mine[turns[role] % len(mine)].next()))
        turns[role] += 1
    return [await task for task in sent]


async def _caldav(served: list[Served], secrets: dict[str, str], plans: list[dict[str, Any]],
                  seconds: float, rates: dict[str, float] | None, lock_file: Path,
                  ) -> dict[str, Any]:  # fmt: skip
    urls, pids = [process.url for process in served], [process.process.pid for process in served]
    clients = [Client(urls[n % len(urls)], secrets[str(plan["member"])], plan)
               for n, plan in enumerate(plans)]  # fmt: skip
    try:
        for _ in range(4):  # Radicale imported in each process, the connections open
            await asyncio.gather(*(client.next() for client in clients))
        cpu = sum(read_process(pid).cpu_seconds for pid in pids)
        with Probe(lock_file) as probe:  # from the start to the end of the measured requests
            if rates is None:
                found = await _closed(clients, seconds)
            else:
                found = await _open(clients, seconds, rates)
        cpu_ms = (sum(read_process(pid).cpu_seconds for pid in pids) - cpu) * 1000
    finally:
        for client in clients:
            await client.dav.aclose()
    return {**summary(found, seconds), "lock": probe.figures(),
            "node_cpu_ms_per_request": round(cpu_ms / max(1, len(found)), 1)}  # fmt: skip


def caldav_phase(served: list[Served], secrets: dict[str, str], plans: list[dict[str, Any]],
                 seconds: float, lock_file: Path, rates: dict[str, float] | None = None,
                 ) -> dict[str, Any]:  # fmt: skip
    """One phase's requests (closed loop, or at ``rates`` per second), the lock's probe, and
    the processes' CPU per request (the warm-up's four requests a client in neither)."""
    return asyncio.run(_caldav(served, secrets, plans, seconds, rates, lock_file))


def check(url: str, name: str, secret: str) -> None:
    """The query finds what the workload says: the household's December events."""
    headers = {"Depth": "1", "Content-Type": "application/xml"}
    found = httpx.request("REPORT", f"{url}{CAL}/{work.HOUSEHOLD}/", content=QUERY,
                          headers=headers, auth=(name, secret), timeout=60)  # fmt: skip
    wanted = sum(1 for n in range(work.HOUSEHOLD_EVENTS) if n % 120 < 31)
    if found.text.count("BEGIN:VEVENT") != wanted:
        raise RuntimeError(f"the query found {found.text.count('BEGIN:VEVENT')}, not {wanted}")


def phases(options: Any, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    writers = [work.plan("writer", names[n], n) for n in range(options.writers)]
    readers = [work.plan("reader", name) for name in names[options.writers :][: options.readers]]
    return {"write": writers, "read": readers, "mixed": writers + readers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--association", default="10,1", help="its reads/s,writes/s")
    parser.add_argument("--association-seconds", type=float, default=12)
    options = parser.parse_args()
    reads, writes = (float(rate) for rate in options.association.split(","))
    if options.writers * work.PER_WRITER > work.HOUSEHOLD_EVENTS:
        parser.error("too many writers for the household's events")
    people = max(options.members, options.writers + options.readers)
    names = [f"m{number:02d}" for number in range(people)]
    counts = [int(count) for count in options.processes.split(",")]
    result: dict[str, Any] = {"bench": "calendar_storage", "cores": os.cpu_count(), **vars(options)}
    result["load_average_start"] = [round(value, 2) for value in os.getloadavg()]
    with tempfile.TemporaryDirectory() as folder, pg.cluster() as cluster:
        root = Path(folder) / "node"
        secrets = prepare(root, cluster.new_database("radicale"), names)
        lock_file = root / "calendars" / "collections" / ".Radicale.lock"
        for count in counts:
            with contextlib.ExitStack() as stack:
                served = [stack.enter_context(serve(root)) for _ in range(count)]
                check(served[-1].url, names[0], secrets[names[0]])
                plans = phases(options, names)
                found = {name: caldav_phase(served, secrets, each, options.seconds, lock_file)
                         for name, each in plans.items()}  # fmt: skip
                rates = {"reader": reads, "writer": writes}
                found["association"] = caldav_phase(
                    served, secrets, plans["mixed"], options.association_seconds, lock_file, rates
                )
                result[f"radicale_{count}"] = found
        address = floor.libpq(cluster.new_database("floor"))
        ids = floor.create(address, work.collections(names))
        for count in counts:
            result[f"database_floor_{count}"] = {
                name: summary(floor.phase(address, ids, plans, count, options.seconds),
                              options.seconds)
                for name, plans in phases(options, names).items()
            }  # fmt: skip
    result["load_average"] = [round(value, 2) for value in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

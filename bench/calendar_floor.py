"""The floor of a calendar storage in the node's database, for bench/calendar_storage.py: the
statements such a storage must run, on the same PostgreSQL, from the same number of processes
and clients as the CalDAV figures, and nothing else (no HTTP, no login, no iCalendar parsed,
no time range filtered, no XML written). What Radicale does on top of its files has no
counterpart here: a real storage in the database would cost this plus that.

- a write: one transaction, the collection's sync token bumped (its row locked until the
  commit, as a ctag must be) and the event's row upserted with that token;
- a calendar-query: one SELECT of every row of the collection (href, etag, body);
- a sync-collection: one SELECT of the collection's token and the rows changed since the
  client's token.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

import calendar_work as work

SCHEMA = """
CREATE TABLE cal_collections (id serial PRIMARY KEY, path text UNIQUE NOT NULL,
                              sync_token bigint NOT NULL DEFAULT 0);
CREATE TABLE cal_items (collection_id int NOT NULL REFERENCES cal_collections,
                        href text NOT NULL, etag text NOT NULL, body text NOT NULL,
                        changed_token bigint NOT NULL, PRIMARY KEY (collection_id, href));
CREATE INDEX cal_items_changed ON cal_items (collection_id, changed_token);
"""
BUMP = "UPDATE cal_collections SET sync_token = sync_token + 1 WHERE id = %s RETURNING sync_token"
UPSERT = (
    "INSERT INTO cal_items (collection_id, href, etag, body, changed_token)"
    " VALUES (%s, %s, md5(%s), %s, %s) ON CONFLICT (collection_id, href) DO UPDATE"
    " SET etag = excluded.etag, body = excluded.body, changed_token = excluded.changed_token"
)
QUERY = "SELECT href, etag, body FROM cal_items WHERE collection_id = %s"
SYNC = (
    "SELECT c.sync_token, i.href, i.etag FROM cal_collections c LEFT JOIN cal_items i"
    " ON i.collection_id = c.id AND i.changed_token > %s WHERE c.id = %s"
)


def libpq(url: str) -> str:
    """psycopg's address for a SQLAlchemy URL (postgresql+psycopg://…)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create(address: str, collections: dict[str, dict[str, str]]) -> dict[str, int]:
    """The tables, filled with the same events as Radicale's folder; each path's id."""
    import psycopg

    ids = {}
    with psycopg.connect(address) as connection:
        connection.execute(SCHEMA)
        for path, events in collections.items():
            row = connection.execute(
                "INSERT INTO cal_collections (path) VALUES (%s) RETURNING id", (path,)
            ).fetchone()
            ids[path] = int(row[0])  # type: ignore[index]
            for uid, body in events.items():
                connection.execute(UPSERT, (ids[path], f"{uid}.ics", body, body, 0))
    return ids


def _writer(connection: Any, plan: dict[str, Any], ids: dict[str, int]) -> Callable[[int], str]:
    def write(step: int) -> str:
        path, uid, body = work.write_step(plan, step)
        with connection.transaction():
            token = connection.execute(BUMP, (ids[path],)).fetchone()[0]
            connection.execute(UPSERT, (ids[path], f"{uid}.ics", body, body, token))
        return "put"

    return write


def _reader(connection: Any, plan: dict[str, Any], ids: dict[str, int]) -> Callable[[int], str]:
    tokens: dict[int, int] = {}

    def read(step: int) -> str:
        kind, path = work.read_step(plan, step)
        collection = ids[path]
        if kind == "query":
            connection.execute(QUERY, (collection,)).fetchall()
        else:
            rows = connection.execute(SYNC, (tokens.get(collection, 0), collection)).fetchall()
            tokens[collection] = int(rows[0][0])
        return kind

    return read


def _client(job: tuple[str, dict[str, Any], dict[str, int], float], start: Any,
            out: list[Any]) -> None:  # fmt: skip
    import psycopg

    address, plan, ids, seconds = job
    with psycopg.connect(address, autocommit=True) as connection:
        step = (_writer if plan["role"] == "writer" else _reader)(connection, plan, ids)
        for warm in range(4):  # the statements prepared, the rows in PostgreSQL's cache
            step(warm)
        start.wait()
        deadline, number = time.perf_counter() + seconds, 4
        while (started := time.perf_counter()) < deadline:
            kind = step(number)
            out.append((kind, time.perf_counter() - started))
            number += 1


def _process(jobs: list[Any], start: Any, results: Any) -> None:
    """One OS process: a thread (and a connection) per client, as a served process has."""
    found: list[Any] = []
    threads = [threading.Thread(target=_client, args=(job, start, found)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(found)


def phase(
    address: str, ids: dict[str, int], plans: list[dict[str, Any]], processes: int,
    seconds: float,
) -> list[tuple[str, float]]:  # fmt: skip
    """Each client's plan run in one of ``processes`` processes (round robin), all started
    together once every client is connected; every (kind, seconds) measured."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(len(plans) + 1), context.Queue()
    jobs = [(address, plan, ids, seconds) for plan in plans]
    shares = [jobs[number::processes] for number in range(processes)]
    started = [context.Process(target=_process, args=(share, start, results))
               for share in shares if share]  # fmt: skip
    for process in started:
        process.start()
    start.wait(timeout=60)
    found = [item for _ in started for item in results.get(timeout=seconds + 60)]
    for process in started:
        process.join()
    return found

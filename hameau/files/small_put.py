"""A small new file's WebDAV PUT in one hop: its body already read, one worker thread joins
the batch of the moment (`db.GroupCommit.run_direct`), whose one read transaction finds who
and where and whose one write transaction records the row and its journal row, as plain
statements on SQLite's own connection (no ORM session; docs/benchmarks.md, "A small PUT's
CPU, round 6").

Only the plainest case comes here: a new file (nothing at its path yet) of a folder that is
there, not a text file for the search index, on SQLite. Anything else, and every refusal
(no such password, a lock in the way, no room left, a folder gone meanwhile), is `PASS`:
nothing was recorded, and the PUT goes the usual way (`dav_put`, then WsgiDAV), which
answers it as before. The checks are the usual way's: the app password and its member
(active), the path from the space's root, the quota counter, WsgiDAV's lock manager; then,
in the write's own transaction, the app password and the member still live and the folder
still there, in the row's INSERT itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import mimetypes
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from hameau.accounts.secrets import digest as token_digest
from hameau.accounts.tokens import PREFIX, TOUCH_EVERY
from hameau.files.dav import lock_key
from hameau.files.merge import bumped
from hameau.files.tables import space_key
from hameau.node.blobs import BlobWriter
from hameau.node.datadir import Node
from hameau.search import index

LARGEST = 64 << 10  # bodies up to this are read before anything is looked up

LOGIN = (
    "SELECT m.id, m.quota_bytes, t.id, t.last_used_at FROM app_tokens t"
    " JOIN members m ON m.id = t.member_id WHERE t.token_hash = ? AND t.revoked_at IS NULL"
    " AND m.disabled_at IS NULL AND m.name = ?"
)
TOUCH = "UPDATE app_tokens SET last_used_at = ? WHERE id = ?"
ROOT = "SELECT id FROM file_entries WHERE parent_id IS NULL AND owner_id = ?"
HOUSEHOLD_ROOT = "SELECT id FROM file_entries WHERE parent_id IS NULL AND owner_id IS NULL"
CHILD = (
    "SELECT id, is_dir FROM file_entries WHERE parent_id = ? AND name = ? AND deleted_at IS NULL"
)
USAGE = "SELECT bytes FROM file_usage WHERE member_id = ?"
# The row, only if its folder and the app password and its member are still live and home
# here (not frozen by a move's final phase, not moved: checked under the write lock, so a
# freeze committed before it refuses it, and one after it finds it in the move's last
# export); nothing if a live entry has the name already (the unique index): then the usual
# way overwrites.
INSERT_FILE = (
    "INSERT INTO file_entries (owner_id, parent_id, name, is_dir, blob, size, content_type,"
    " revision, charged_to, created_at, modified_at) SELECT ?, ?, ?, 0, ?, ?, ?, 1, ?, ?, ?"
    " WHERE EXISTS (SELECT 1 FROM file_entries WHERE id = ? AND deleted_at IS NULL)"
    " AND EXISTS (SELECT 1 FROM app_tokens t JOIN members m ON m.id = t.member_id"
    " WHERE t.id = ? AND t.revoked_at IS NULL AND m.disabled_at IS NULL"
    " AND m.frozen_at IS NULL AND m.moved_to IS NULL)"
    " ON CONFLICT DO NOTHING RETURNING id"
)
JOURNAL_ROW = "SELECT id, vector, blob FROM sync_entries WHERE space = ? AND path = ?"
TAKE = "UPDATE sync_sequence SET value = value + 1 WHERE id = 1 RETURNING value"
JOURNAL_INSERT = (
    "INSERT INTO sync_entries (space, path, vector, blob, size, seq, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
JOURNAL_UPDATE = (
    "UPDATE sync_entries SET vector = ?, blob = ?, size = ?, seq = ?, updated_at = ? WHERE id = ?"
)
PUBLIC_KEY = "SELECT public_key FROM node_info"


class Refused(Exception):
    """The write cannot be made here (its check passed, the database then said no)."""


def stamp(when: datetime) -> str:
    """A timestamp as SQLAlchemy stores a `UTCDateTime` on SQLite (UTC, naive, to the µs)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def kind_of(name: str, content_type: str) -> str:
    """The content type recorded, as `files.service` chooses it."""
    kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return kind[:120]


def taken(name: str, content_type: str, declared: int | None) -> bool:
    """Whether a PUT may try this path: a small declared body, not a text file to index."""
    if declared is None or declared > LARGEST:
        return False
    return not index.is_text(name, kind_of(name, content_type), declared)


def _replica(cursor: Any, batch: dict[str, Any]) -> str:
    """This node's name in version vectors, as `journal.replica` makes it (once a batch)."""
    if "replica" not in batch:
        found = _row(cursor, PUBLIC_KEY, ())
        digest = hashlib.sha256(base64.b64decode(found[0] if found else "")).digest()[:10]
        batch["replica"] = base64.b32encode(digest).decode().lower()
    return str(batch["replica"])


class SmallPut:
    """One PUT's write, as a `db.DirectWrite`: `check` and `write` run in its batch."""

    def __init__(self, node: Node, locks: Any, put: Any, writer: BlobWriter) -> None:
        self.node, self.locks, self.put, self.writer = node, locks, put, writer
        self.digest = writer.digest or ""
        self.size = writer.size
        self.name = put.parts[-1]
        self.kind = kind_of(self.name, put.content_type)
        self.member_id = self.token_id = self.folder_id = 0
        self.owner_id: int | None = None
        self.writing: AbstractContextManager[Any] | None = None  # WsgiDAV's write marker

    def check(self, cursor: Any, batch: dict[str, Any]) -> bool:
        """Who, where and room, as `dav_put.find` checks them; then the locks."""
        put = self.put
        if not put.password.startswith(PREFIX) or len(put.password) > 100:
            return False
        login = (token_digest(put.password), put.user.strip().lower())
        found = cursor.execute(LOGIN, login).fetchone()
        if found is None:
            return False
        self.member_id, quota, self.token_id, last_used = found
        now = datetime.now(UTC)
        if (
            last_used is None
            or now - datetime.fromisoformat(last_used).replace(tzinfo=UTC) > TOUCH_EVERY
        ):
            cursor.execute(TOUCH, (stamp(now), self.token_id))
        self.owner_id = self.member_id if put.top == "mine" else None
        folder = self._folder(cursor)
        if folder is None or _row(cursor, CHILD, (folder, self.name)) is not None:
            return False  # no folder there, or something at the path: the usual way
        self.folder_id = folder
        used = _row(cursor, USAGE, (self.member_id,))
        pending: dict[int, int] = batch.setdefault("bytes", {})  # this batch's, by member
        before = pending.get(self.member_id, 0)
        if self.size > quota - (used[0] if used else 0) - before:
            return False
        self._hold_locks()
        pending[self.member_id] = before + self.size
        return True

    def _folder(self, cursor: Any) -> int | None:
        """The folder the file goes into, from the space's root (None: not there)."""
        if self.owner_id is None:
            root = _row(cursor, HOUSEHOLD_ROOT, ())
        else:
            root = _row(cursor, ROOT, (self.owner_id,))
        folder = root[0] if root else None
        for name in self.put.parts[:-1]:
            found = _row(cursor, CHILD, (folder, name)) if folder is not None else None
            folder = found[0] if found and found[1] else None
        return folder

    def _hold_locks(self) -> None:
        """WsgiDAV's checks of a PUT without an `If:` header (see `NativePut._writing`);
        raises (DAVError) when a lock is in the way."""
        put = self.put
        key = lock_key(self.member_id, put.top, put.parts, collection=False)
        folder = lock_key(self.member_id, put.top, put.parts[:-1], True)
        if getattr(self.locks.storage, "holds_any", lambda: True)():  # none: nothing to find
            self.locks.check_write_permission(
                url=folder, depth="0", token_list=[], principal=put.user
            )
        writing = self.locks.write_transaction(url=key, token_list=[], principal=put.user)
        writing.__enter__()
        self.writing = writing

    def write(self, cursor: Any, batch: dict[str, Any]) -> None:
        """The row, then its journal row (as `journal.wrote`); Refused if the row was not
        made or its content went meanwhile (a purge: checked under the write lock)."""
        now = stamp(datetime.now(UTC))
        made = cursor.execute(INSERT_FILE, (
            self.owner_id, self.folder_id, self.name, self.digest, self.size, self.kind,
            self.member_id, now, now, self.folder_id, self.token_id,
        )).fetchone()  # fmt: skip
        if made is None:
            raise Refused("the row was not made")
        if not self.node.blobs.exists(self.digest):
            raise Refused("the content was purged meanwhile")
        self._journal(cursor, now, _replica(cursor, batch))

    def _journal(self, cursor: Any, now: str, replica: str) -> None:
        space, path = space_key(self.owner_id), "/".join(self.put.parts)
        found = _row(cursor, JOURNAL_ROW, (space, path))
        if found is not None and found[2] == self.digest:
            return  # the same content again: nothing changed
        vector = bumped(json.loads(found[1]) if found else {}, replica)
        taken_seq = _row(cursor, TAKE, ())
        if taken_seq is None:
            raise Refused("the journal's counter is not started")  # the usual way starts it
        values = (json.dumps(vector), self.digest, self.size, taken_seq[0], now)
        if found is not None:
            cursor.execute(JOURNAL_UPDATE, (*values, found[0]))
        elif cursor.execute(JOURNAL_INSERT, (space, path, *values)).rowcount != 1:
            raise Refused("another writer recorded this path first")

    def release(self) -> None:
        if self.writing is not None:
            self.writing.__exit__(None, None, None)
            self.writing = None


def _row(cursor: Any, sql: str, params: tuple[Any, ...]) -> Any:
    return cursor.execute(sql, params).fetchone()


class _Queued:
    """One PUT through the group commit's writer thread (`db.GroupCommit.queue`): its
    content written and hashed there, its outcome handed to ``done`` (the digest, or None
    when the usual way must take it: nothing was recorded)."""

    def __init__(self, node: Node, locks: Any, put: Any, body: bytes) -> None:
        self.node, self.locks, self.put, self.body = node, locks, put, body
        self.writer: BlobWriter | None = None

    def prepare(self) -> SmallPut:
        self.writer = self.node.blobs.writer()
        self.writer.write(self.body)  # a full disk: nothing kept, the usual way says so
        self.writer.commit(later=True)  # hashed only: the batch makes it durable
        return SmallPut(self.node, self.locks, self.put, self.writer)

    def outcome(self, write: Any, recorded: bool) -> str | None:
        if write is not None:
            write.release()
        if recorded:
            return str(write.digest)
        if self.writer is not None:
            self.writer.abort()  # its temp file, if it was not put in place
        return None


def written(node: Node, locks: Any, put: Any, body: bytes) -> str | None:
    """The PUT made durable and recorded in the batch of the moment: the content's digest,
    or None when the usual way must take it (nothing was recorded). Waits for it."""
    queued, done = _Queued(node, locks, put, body), threading.Event()
    answer: list[str | None] = []

    def finish(write: Any, recorded: bool, _error: BaseException | None) -> None:
        answer.append(queued.outcome(write, recorded))
        done.set()

    node.group.queue.put(node.blobs, queued.prepare, finish)
    done.wait()
    return answer[0]


async def written_soon(node: Node, locks: Any, put: Any, body: bytes) -> str | None:
    """`written` from the event loop: no worker thread of its own, woken once answered."""
    queued, loop = _Queued(node, locks, put, body), asyncio.get_running_loop()
    future: asyncio.Future[str | None] = loop.create_future()

    def finish(write: Any, recorded: bool, _error: BaseException | None) -> None:
        digest = queued.outcome(write, recorded)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(_settle, future, digest)

    node.group.queue.put(node.blobs, queued.prepare, finish)
    return await future


def _settle(future: asyncio.Future[str | None], digest: str | None) -> None:
    if not future.done():  # the request's task may have been cancelled meanwhile
        future.set_result(digest)


def replayed(body: bytes, receive: Any) -> Any:
    """A `receive` that gives the body read already, then the client's own messages."""
    pending: Iterator[dict[str, Any]] = iter(
        [{"type": "http.request", "body": body, "more_body": False}]
    )

    async def again() -> dict[str, Any]:
        message = next(pending, None)
        return message if message is not None else await receive()

    return again

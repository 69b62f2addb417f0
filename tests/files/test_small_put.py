"""A small new file's PUT in one hop (`files/small_put.py`): its rows are the ones the usual
way (`dav_put.find`, then `dav.recorded` through the ORM) writes, and whatever changes
between its batch's check and its write (an app password revoked, a member disabled, a
folder trashed) leaves nothing recorded, the PUT then going the usual way, which refuses
it. Two PUTs of one batch that fit the quota only one at a time: one is written."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from wsgidav.lock_man.lock_manager import LockManager

from hameau.accounts import members, tokens
from hameau.errors import NotFound
from hameau.files import dav_locks, dav_put, journal, quota, small_put
from hameau.files import service as files
from hameau.files.check import run_check
from hameau.files.dav import _Context, _Upload, lock_key, recorded
from hameau.files.models import FileEntry
from hameau.node.datadir import Node
from hameau.node.db import _Batched, transaction, utcnow
from tests.helpers import add_member, sqlite_only

# The direct path's statements are SQLite's (node.group.takes_direct); on PostgreSQL a small
# PUT takes the usual way (tests/e2e/test_postgres_served.py).
pytestmark = sqlite_only("small PUTs' direct path (group.run_direct) is SQLite's only")


def _secret(node: Node) -> str:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        files.make_folder(session, member, files.space(member, "mine"), ["photos"])
        token, secret = tokens.create_token(session, member, "phone")
        token.last_used_at = utcnow()  # a batch's check then only reads: others may write
        return secret


def _asked(secret: str, name: str, size: int = 2048) -> dav_put.Asked:
    return dav_put.Asked("mine", ["photos", name], "alex", secret, size, "image/jpeg", {})


def _locks(node: Node) -> LockManager:
    return LockManager(dav_locks.DatabaseLockStorage(node))


def _usual(node: Node, put: dav_put.Asked, data: bytes) -> FileEntry:
    found = dav_put.find(node, put)
    assert found is not None
    upload = _Upload(node.blobs, found.plan.limit)
    upload.write(data)
    return recorded(_Context(node, found.member.id, found.member), found.plan, upload, "")


def _stored(node: Node, name: str) -> tuple[FileEntry, journal.SyncEntry]:
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        _, entry = files.locate(session, member, "mine", f"photos/{name}")
        row = session.scalar(select(journal.SyncEntry).filter_by(path=f"photos/{name}"))
        assert row is not None
        return entry, row


def test_its_rows_are_the_usual_ways(node: Node) -> None:
    secret = _secret(node)
    data = os.urandom(2048)
    usual = _usual(node, _asked(secret, "usual.jpg"), data[::-1])
    digest = small_put.written(node, _locks(node), _asked(secret, "quick.jpg"), data)
    assert digest is not None
    made, made_row = _stored(node, "quick.jpg")
    before, before_row = _stored(node, "usual.jpg")
    same = ("owner_id", "parent_id", "is_dir", "size", "content_type", "revision", "charged_to",
            "deleted_at", "deleted_from")  # fmt: skip
    assert {key: getattr(made, key) for key in same} == {key: getattr(before, key) for key in same}
    assert (made.blob, node.blobs.read(digest)) == (digest, data)
    assert made.created_at == made.modified_at and made.created_at.tzinfo is not None
    assert made.created_at >= usual.created_at
    assert (made_row.blob, made_row.size, made_row.space) == (digest, 2048, before_row.space)
    assert made_row.vector == before_row.vector  # this node's name, counted once
    assert made_row.seq == before_row.seq + 1
    with transaction(node.sessions) as session:
        member_id = members.find_member(session, "alex").id
        assert quota.usage(session, member_id) == quota.recount(session, member_id) == 4096
    report = run_check(node.settings)
    assert not report.findings, report.findings


class ChangedMeanwhile(small_put.SmallPut):
    """A PUT whose check passes, then something changes (committed by another connection)
    before its batch writes."""

    change: Callable[[Any], None]

    def check(self, cursor: Any, batch: dict[str, Any]) -> bool:
        accepted = super().check(cursor, batch)
        with transaction(self.node.sessions) as session:
            type(self).change(session)
        return accepted


def _revoke(session: Any) -> None:
    member = members.find_member(session, "alex")
    for token in tokens.list_tokens(session, member):
        tokens.revoke_token(session, token.id)


def _disable(session: Any) -> None:
    members.set_disabled(session, members.find_member(session, "alex"), True)


def _trash_folder(session: Any) -> None:
    member = members.find_member(session, "alex")
    files.trash(session, member, files.locate(session, member, "mine", "photos")[1])


def _freeze(session: Any) -> None:  # a move's final phase, committed by `hameau move`
    from hameau.moving import doors

    doors.freeze(session, members.find_member(session, "alex"))


@pytest.mark.parametrize("change", [_revoke, _disable, _trash_folder, _freeze])
def test_a_change_between_its_check_and_its_write_records_nothing(
    node: Node, change: Callable[[Any], None]
) -> None:
    secret = _secret(node)
    put = _asked(secret, "late.jpg")
    writer = node.blobs.writer()
    writer.write(os.urandom(2048))
    writer.commit(later=True)
    write = type("Changing", (ChangedMeanwhile,), {"change": staticmethod(change)})(
        node, _locks(node), put, writer
    )
    with pytest.raises(small_put.Refused):
        node.group.run_direct(node.blobs, write)
    write.release()
    with transaction(node.sessions) as session:
        found = session.scalar(select(FileEntry).filter_by(name="late.jpg"))
        assert found is None
        assert session.scalar(select(journal.SyncEntry).filter_by(path="photos/late.jpg")) is None
    if change in (_revoke, _disable):
        assert dav_put.find(node, put) is None  # the usual way: WsgiDAV's 401
    assert not run_check(node.settings).findings


def test_two_puts_of_one_batch_over_the_quota_together_write_one(node: Node) -> None:
    secret = _secret(node)
    with transaction(node.sessions) as session:
        members.find_member(session, "alex").quota_bytes = 3000
    writes = []
    for name in ("one.bin", "two.bin"):
        writer = node.blobs.writer()
        writer.write(os.urandom(2048))
        writer.commit(later=True)
        writes.append(small_put.SmallPut(node, _locks(node), _asked(secret, name), writer))
    jobs = [_Batched(node.blobs, write.writer, None, write) for write in writes]
    node.group._write_batch(jobs)  # one batch, as two PUTs arriving together make it
    assert [job.result for job in jobs] == [True, False]
    assert [job.error for job in jobs] == [None, None]
    for write in writes:
        write.release()
    writes[1].writer.abort()
    _stored(node, "one.bin")
    with transaction(node.sessions) as session, pytest.raises(NotFound):
        files.locate(session, members.find_member(session, "alex"), "mine", "photos/two.bin")


def test_a_lock_in_the_way_or_a_file_there_goes_the_usual_way(node: Node) -> None:
    secret = _secret(node)
    _usual(node, _asked(secret, "there.jpg"), b"x" * 2048)
    locks = _locks(node)
    assert small_put.written(node, locks, _asked(secret, "there.jpg"), b"y" * 2048) is None
    with transaction(node.sessions) as session:
        member_id = members.find_member(session, "alex").id
    folder = lock_key(member_id, "mine", ["photos"], collection=True)
    locks.acquire(url=folder, lock_type="write", lock_scope="exclusive", lock_depth="infinity",
                  lock_owner=b"", timeout=60, principal="sam", token_list=[])  # fmt: skip
    assert small_put.written(node, locks, _asked(secret, "new.jpg"), b"z" * 2048) is None
    assert _stored(node, "there.jpg")[0].size == 2048
    assert not list(node.blobs.temp_dir.glob("upload-*"))  # nothing left behind

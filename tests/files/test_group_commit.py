"""Group commit of small writes (`db.GroupCommit.run_with_content`): writes that arrive
together are made durable in one batch (their content first, then one transaction for their
rows); each write still gets its own answer, and a refused one takes nothing of the others."""

from __future__ import annotations

import os
import threading

import pytest

from hameau.accounts import members
from hameau.errors import Conflict, NotFound
from hameau.files import paths
from hameau.files import service as files
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member

AT_ONCE = 8
REFUSED = 3  # the writer whose transaction is refused after it wrote its row


def put(node: Node, number: int, data: bytes, start: threading.Barrier) -> str:
    """One small write as a WebDAV PUT makes it: content hashed, then content and row in the
    batch of the moment. The refused one records its row, then fails."""
    writer = node.blobs.writer()
    writer.write(data)
    digest = writer.commit(later=True)

    def work(session: object) -> str:
        member = members.find_member(session, "alex")  # type: ignore[arg-type]
        where = files.space(member, "mine")
        plan = files.plan_write(session, member, where, paths.split(f"f{number}.bin"))  # type: ignore[arg-type]
        files.record_write(session, plan, member, digest, len(data), blobs=node.blobs)  # type: ignore[arg-type]
        if number == REFUSED:
            raise Conflict("Refused after its row was written.")
        return digest

    start.wait()
    return node.group.run_with_content(node.blobs, writer, work)  # type: ignore[arg-type]


def test_writes_at_once_are_each_recorded_and_a_refused_one_leaves_the_others(
    any_node: Node,
) -> None:
    node = any_node  # on PostgreSQL too: savepoints, the journal's counter under row locks
    add_member(node, "alex")
    sent = {number: os.urandom(2048) for number in range(AT_ONCE)}
    answers: dict[int, str | BaseException] = {}
    start = threading.Barrier(AT_ONCE)

    def run(number: int) -> None:
        try:
            answers[number] = put(node, number, sent[number], start)
        except Conflict as error:
            answers[number] = error

    threads = [threading.Thread(target=run, args=(number,)) for number in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(answers.pop(REFUSED), Conflict)
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        for number, digest in answers.items():
            _, entry = files.locate(session, member, "mine", f"f{number}.bin")
            assert (entry.blob, node.blobs.read(digest)) == (digest, sent[number])
        with pytest.raises(NotFound):  # its row went with its savepoint
            files.locate(session, member, "mine", f"f{REFUSED}.bin")
    assert node.group.batch.flushes <= AT_ONCE
    assert not list(node.blobs.temp_dir.glob("upload-*"))  # every content put in place


def test_a_write_alone_is_durable_on_return(node: Node) -> None:
    add_member(node, "alex")
    digest = put(node, 0, b"alone", threading.Barrier(1))
    assert node.group.batch.flushes == 1
    assert node.blobs.verify(digest) is None

"""Two writes of one file at once, through any doors: the one that lands second keeps the
one that landed first as a version, as every overwrite does. The second write's transaction
reads what it replaces under the write lock (SQLite) or FOR UPDATE (PostgreSQL), and afresh,
not as its plan found it before the first landed."""

from __future__ import annotations

from functools import partial

from hameau.accounts import members
from hameau.errors import Conflict
from hameau.files import service as files
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member, callers, lands_meanwhile, once_after
from tests.travel.sides import kept, live, write


def test_a_file_written_twice_at_once_keeps_the_first_as_a_version(any_node: Node) -> None:
    node = any_node
    add_member(node, "alex")
    write(node, "Courses/liste.txt", b"pain")
    digest = node.blobs.put(b"oeufs")
    # The second write reads what it replaces: the first one lands right then, from another
    # door (thread), given half a second before the second goes on.

    def reads(sql: str) -> bool:
        return "FROM file_entries" in sql and "_record" in callers()[0]

    first_lands = partial(lands_meanwhile, write, node, "Courses/liste.txt", b"lait")
    with (
        once_after(node.engine, reads, first_lands) as first,
        transaction(node.sessions) as session,
    ):
        alex = members.find_member(session, "alex")
        where = files.space(alex, "mine")
        plan = files.plan_write(session, alex, where, ["Courses", "liste.txt"])
        files.record_write(session, plan, alex, digest, 5, "", node.blobs)
    assert first, "the second write never read what it replaces"
    first[0].join()
    assert set(live(node, under="Courses").values()) <= {b"lait", b"oeufs"}
    assert {b"pain", b"lait", b"oeufs"} <= kept(node)  # each content: live, or a version


def test_a_name_taken_while_a_file_is_renamed_to_it_loses_nothing(any_node: Node) -> None:
    """A file is renamed to a name another door takes at that moment: the rename is refused
    in words (409) or the other write lands after it, never a 500; both contents are kept."""
    node = any_node
    add_member(node, "alex")
    write(node, "Courses/liste.txt", b"pain")

    def reads(sql: str) -> bool:
        return "FROM file_entries" in sql and "move" in callers()[0]

    other_lands = partial(lands_meanwhile, write, node, "Courses/liste-2.txt", b"lait")
    with once_after(node.engine, reads, other_lands) as other:
        try:
            with transaction(node.sessions) as session:
                alex = members.find_member(session, "alex")
                where = files.space(alex, "mine")
                entry = files.resolve(session, where, ["Courses", "liste.txt"])
                folder = files.resolve(session, where, ["Courses"])
                files.move(session, alex, entry, folder, "liste-2.txt")
        except Conflict as refused:
            assert "already there" in str(refused)
    assert other, "the rename never read the folder"
    other[0].join()
    assert {b"pain", b"lait"} <= kept(node)

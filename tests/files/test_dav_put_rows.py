"""A WebDAV PUT's own path (`files/dav_put.py`): its first transaction finds the member by
their app password, and its batch records the row. The entry it answers with is the row the
database holds, and a member disabled while their PUT's body streamed in gets nothing."""

from __future__ import annotations

import os

import pytest
from wsgidav.dav_error import DAVError

from hameau.accounts import members, tokens
from hameau.errors import NotFound
from hameau.files import dav_put
from hameau.files import service as files
from hameau.files.dav import _Context, _Upload, recorded
from hameau.files.models import FileEntry
from hameau.node.datadir import Node
from hameau.node.db import transaction
from tests.helpers import add_member


def _asked(node: Node, name: str) -> dav_put.Asked:
    add_member(node, "alex")
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        secret = tokens.create_token(session, member, "phone")[1]
    return dav_put.Asked("mine", [name], "alex", secret, None, "image/jpeg", {})


def _put(node: Node, put: dav_put.Asked, data: bytes) -> FileEntry:
    found = dav_put.find(node, put)
    assert found is not None
    upload = _Upload(node.blobs, found.plan.limit)
    upload.write(data)
    context = _Context(node, found.member.id, found.member)
    return recorded(context, found.plan, upload, put.content_type)


def test_the_answered_entry_is_the_row_the_database_holds(node: Node) -> None:
    data = os.urandom(2048)
    entry = _put(node, _asked(node, "photo.jpg"), data)
    with transaction(node.sessions) as session:
        member = members.find_member(session, "alex")
        _, stored = files.locate(session, member, "mine", "photo.jpg")
        columns = [column.key for column in FileEntry.__table__.columns]
        assert {key: getattr(stored, key) for key in columns} == {
            key: getattr(entry, key) for key in columns
        }
    assert node.blobs.read(stored.blob) == data
    assert (stored.size, stored.content_type, stored.revision) == (2048, "image/jpeg", 1)


def test_a_member_disabled_while_their_put_streamed_in_records_nothing(node: Node) -> None:
    put = _asked(node, "late.jpg")
    found = dav_put.find(node, put)
    assert found is not None
    with transaction(node.sessions) as session:
        members.set_disabled(session, members.find_member(session, "alex"), True)
    upload = _Upload(node.blobs, found.plan.limit)
    upload.write(b"written after the account was disabled")
    with pytest.raises(DAVError) as refused:
        recorded(_Context(node, found.member.id, found.member), found.plan, upload, "")
    assert refused.value.value == 403
    with transaction(node.sessions) as session, pytest.raises(NotFound):
        files.locate(session, members.find_member(session, "alex"), "mine", "late.jpg")
    assert dav_put.find(node, put) is None  # and the next PUT goes to WsgiDAV's 401

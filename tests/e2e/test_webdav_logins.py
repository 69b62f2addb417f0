"""WebDAV logins against a real `hameau serve`: the app password is checked on every request,
so one revoked from the command line (another process) stops a client at its next request,
on the connection it kept open."""

from __future__ import annotations

import http.client
import subprocess
import sys
from base64 import b64encode
from pathlib import Path

import pytest

from hameau.accounts import members, tokens
from hameau.config import Settings
from hameau.files import service as files
from hameau.node.datadir import open_node
from hameau.node.db import transaction
from tests.e2e.served import serve
from tests.helpers import add_member, make_node

pytestmark = pytest.mark.e2e


def test_an_app_password_revoked_from_the_cli_refuses_the_next_put(tmp_path: Path) -> None:
    root = tmp_path / "node"
    node = make_node(root)
    add_member(node, "alex")
    add_member(node, "sam")
    with transaction(node.sessions) as session:
        token, secret = tokens.create_token(session, members.find_member(session, "alex"), "phone")
        token_id = token.id
    node.close()
    with serve(root) as served:
        port = int(served.url.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def put(
            name: str, who: str = "alex", through: http.client.HTTPConnection = connection
        ) -> int:
            login = b64encode(f"{who}:{secret}".encode()).decode()
            through.request("PUT", f"/dav/files/mine/{name}", body=b"x" * 2048,
                            headers={"Authorization": f"Basic {login}"})  # fmt: skip
            answer = through.getresponse()
            answer.read()
            return answer.status

        assert put("a.bin") == 201
        assert put("a.bin") == 204
        # Another member's name with alex's password, on a connection of its own: a refusal
        # answered before its body was read may close its connection (a reset, as it races).
        other = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        assert put("b.bin", who="sam", through=other) == 401
        other.close()
        subprocess.run(
            [sys.executable, "-m", "hameau", "token", "revoke", str(token_id),
             "--data-dir", str(root)],
            check=True, capture_output=True,
        )  # fmt: skip
        assert put("c.bin") == 401
        connection.close()
    node = open_node(Settings(data_dir=root), upgrade=False)
    with node.sessions() as session:  # nothing was written after the revocation
        alex = members.find_member(session, "alex")
        top = files.root(session, files.space(alex, "mine"))
        assert [entry.name for entry in files.children(session, top)] == ["a.bin"]
    node.close()

"""An error WsgiDAV turns into a 500 is written to the node's log with its traceback:
WsgiDAV keeps its logger to itself otherwise (hameau/files/dav_app.py)."""

from __future__ import annotations

import logging

import pytest

from hameau.files import dav_app
from hameau.node.datadir import Node
from tests.files.test_http import token
from tests.helpers import add_member, browser


class Kept(logging.Handler):
    """What reaches the root logger, where the node's log handler sits."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_webdav_500_leaves_its_traceback_in_the_nodes_log(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_member(node, "alex")
    secret = token(node, "alex")["Authorization"].split()[1]
    # Without the node's guard, WsgiDAV fails on a DELETE of the top folder (it looks for
    # the parent of "/"): an error of its own, as an unknown one would be.
    monkeypatch.setattr(dav_app, "_refusal", lambda environ: None)
    kept = Kept()
    logging.getLogger().addHandler(kept)
    try:
        answer = browser(node).request("DELETE", "/dav/files/", auth=("alex", secret))
    finally:
        logging.getLogger().removeHandler(kept)
    assert answer.status_code == 500
    logged = "\n".join(kept.lines)
    assert "Traceback" in logged and "AttributeError" in logged
    assert secret not in logged

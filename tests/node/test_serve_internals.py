"""What `hameau/node/serve.py` and `socket_body.py` rely on in uvicorn, which is no public API:
the version pinned in pyproject.toml, and the attributes of its protocol and request cycle. If
uvicorn changes them, the node quietly falls back to uvicorn's slower body path (see
`GuardedHttp._large_body`); this test says so loudly instead."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from hameau.node.serve import CYCLE_PARTS

PROTOCOL_PARTS = ("pipeline", "cycle", "flow", "parser", "scheme", "headers", "scope", "transport")
WHAT_TO_DO = (
    "read hameau/node/socket_body.py against uvicorn's httptools_impl.py, then move the pin"
)


def test_the_installed_uvicorn_is_the_pinned_one() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    pin = next(dep for dep in project["project"]["dependencies"] if dep.startswith("uvicorn"))
    low, high = re.fullmatch(r"uvicorn>=([\d.]+),<([\d.]+)", pin).groups()  # type: ignore[union-attr]
    version = tuple(int(part) for part in uvicorn.__version__.split(".")[:2])
    assert tuple(map(int, low.split(".")[:2])) <= version < tuple(map(int, high.split("."))), (
        f"uvicorn {uvicorn.__version__} is installed, {pin} is pinned: {WHAT_TO_DO}"
    )


def test_the_request_cycle_and_protocol_have_what_the_socket_body_uses() -> None:
    cycle = inspect.getsource(RequestResponseCycle.__init__)
    protocol = inspect.getsource(HttpToolsProtocol)
    missing = [f"cycle.{part}" for part in CYCLE_PARTS if f"self.{part} =" not in cycle]
    missing += [f"protocol.{part}" for part in PROTOCOL_PARTS if f"self.{part}" not in protocol]
    receive = inspect.getsource(RequestResponseCycle.receive)
    missing += [f"receive() {part}" for part in ("waiting_for_100_continue", "self.body", "more_body") if part not in receive]  # fmt: skip
    assert not missing, f"uvicorn {uvicorn.__version__} no longer has {missing}: {WHAT_TO_DO}"

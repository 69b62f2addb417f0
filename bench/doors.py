"""What the old home's doors (hameau/moving/doors.py) cost each request that carries a
credential: deciding whether its member is frozen or moved, with no one away (every node,
nearly always) and with one member moved (their credential's owner looked up too). Prints one
JSON line.

    .venv/bin/python bench/doors.py [--requests 5000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 (puts the repository on the path)

from hameau.accounts import members
from hameau.moving import doors
from hameau.node.db import transaction
from tests.helpers import add_member, make_node


def per_request(watch: doors.Watch, scope: dict[str, object], count: int) -> float:
    for _ in range(200):
        doors.refusal(watch, scope)
    started = time.perf_counter()
    for _ in range(count):
        doors.refusal(watch, scope)
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    count = parser.parse_args().requests
    with tempfile.TemporaryDirectory() as folder:
        node = make_node(Path(folder) / "node")
        add_member(node, "alex")
        add_member(node, "sam")
        watch = doors.Watch(node)
        scope = {"type": "http", "method": "GET", "path": "/files/mine/", "query_string": b"",
                 "headers": [(b"cookie", b"hameau_session=not-a-session")]}  # fmt: skip
        nobody = per_request(watch, scope, count)
        with transaction(node.sessions) as session:
            doors.mark_moved(session, members.find_member(session, "sam"), "https://x.example")
        moved = per_request(watch, scope, count)
        node.close()
    print(
        json.dumps(
            {"doors_us_nobody_away": round(nobody, 1), "doors_us_one_moved": round(moved, 1)}
        )
    )


if __name__ == "__main__":
    main()

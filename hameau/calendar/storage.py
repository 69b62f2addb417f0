"""Radicale's storage under the node's data dir: its folder, its rights (each member their own
collections, everyone the household's) and its configuration. Shared by the CalDAV mount
(`radicale.py`) and the pages' view of the same collections (`store.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hameau.node.datadir import Node

HOUSEHOLD = "household"
RIGHTS = f"""# Written by hameau at start; edits are overwritten.
[root]
user: .+
collection:
permissions: R

[own-principal]
user: .+
collection: {{user}}
permissions: RW

[own-collections]
user: .+
collection: {{user}}/[^/]+
permissions: rw

[household-principal]
user: .+
collection: {HOUSEHOLD}
permissions: R

[household-collections]
user: .+
collection: {HOUSEHOLD}/[^/]+
permissions: rw
"""


def folder(node: Node) -> Path:
    return node.layout.root / "calendars"


def configuration(node: Node) -> Any:
    from radicale import config

    root = folder(node)
    root.mkdir(exist_ok=True, mode=0o700)
    # Made here, so that Radicale does not warn on stderr that it creates them (a command's
    # output would carry its lines).
    (root / "collections" / "collection-root").mkdir(parents=True, exist_ok=True, mode=0o700)
    rights = root / "rights.ini"
    rights.write_text(RIGHTS)
    configuration = config.load()
    configuration.update(
        {
            # The node checks logins itself (and limits failed ones); Radicale's delay would
            # hold one of its two threads a second for each 403 a member is given.
            "auth": {"type": "http_x_remote_user", "delay": "0"},
            "rights": {"type": "from_file", "file": str(rights)},
            "storage": {"filesystem_folder": str(root / "collections")},
            "web": {"type": "none"},
            "logging": {"level": "warning", "mask_passwords": "True"},
            # The node's middleware refuses larger bodies first (413); this says so to Radicale.
            "server": {"max_content_length": str(node.settings.max_dav_body_bytes)},
        },
        "hameau",
        privileged=True,
    )
    return configuration

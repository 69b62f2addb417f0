"""The household's backup key: restic's repository password, made once, kept 0600 in the data
dir (the node backs up unattended every day), and printed on the recovery sheet.

It is backed up with the rest of the data dir (inside the repository it opens, so useless
without it), so a restored node keeps backing up to the same places with the same key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from hameau.node.datadir import Layout

# No 0/o, 1/l/i: a password typed again from paper.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def folder(layout: Layout) -> Path:
    """The backup's own files in the data dir: the key, the run lock, restic's cache, the
    database snapshot while a backup runs."""
    return layout.root / "backup"


def key_file(layout: Layout) -> Path:
    return folder(layout) / "restic.key"


def has_key(layout: Layout) -> bool:
    return key_file(layout).is_file()


def ensure_key(layout: Layout) -> bool:
    """Make the key if there is none; True when it was made now (its sheet must be shown)."""
    path = key_file(layout)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    password = "-".join(
        "".join(secrets.choice(ALPHABET) for _ in range(5)) for _ in range(8)
    )  # 40 letters and digits (about 196 bits), in groups a person copies from paper
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True


def read_key(layout: Layout) -> str:
    return key_file(layout).read_text().strip()


def write_key_file(path: Path, password: str) -> None:
    """A password file for restic (a restore's, from the sheet), 0600 from the start."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")

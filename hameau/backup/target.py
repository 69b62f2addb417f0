"""Where a backup goes: one small interface, so that the backup itself (hameau/backup/service.py)
does not know whether restic writes to a paired peer's node or to a local folder (a USB disk).

    target = targets.parse(node, "peer:maison-b")       # or a folder's path
    with target.open() as repository:
        run restic with -r repository.url and repository.env added to its environment

A peer's repository is reached through a loopback proxy that signs every request restic makes
(hameau/backup/peer_target.py); a folder's is the folder itself."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Repository:
    """What restic is given: its repository (`-r`) and variables for its environment. The
    repository's password is never here: the backup passes it itself (RESTIC_PASSWORD_FILE)."""

    url: str
    env: dict[str, str] = field(default_factory=dict)


class Target(Protocol):
    """A place a node's backups go."""

    # How people see it: "peer maison-b", "folder /media/usb/hameau".
    label: str

    def open(self) -> AbstractContextManager[Repository]:
        """The repository, reachable for as long as the context lasts."""
        ...

"""A folder target: restic's repository in a local folder, typically a USB disk's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hameau.backup.target import Repository
from hameau.errors import BadRequest


class FolderTarget:
    """Backups into `path` (an absolute path; the folder is made at setup)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_absolute():
            raise BadRequest(
                "A backup folder is given by its absolute path, such as /media/usb/hameau;"
                " give the whole path."
            )
        self.label = f"folder {self.path}"

    @property
    def spec(self) -> str:
        return str(self.path)

    @contextmanager
    def open(self) -> Iterator[Repository]:
        # A missing parent is a disk not plugged in: restic must not make the folder elsewhere.
        if not self.path.parent.is_dir():
            raise BadRequest(
                "The folder %(path)s cannot be reached; plug in its disk (or mount it), then"
                " try again.",
                path=str(self.path.parent),
            )
        yield Repository(str(self.path))
